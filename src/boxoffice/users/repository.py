"""SQL for users, their accounts and their sessions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import BigInteger, String, bindparam, insert, select, update

from boxoffice.storage.query import Conn, Query, Row
from boxoffice.storage.tables import UTCDateTime, refresh_tokens, sessions, users

NOW = bindparam("now", type_=UTCDateTime())
# Named unlike the columns an UPDATE sets (SQLAlchemy reserves those names).
USER = bindparam("user", type_=BigInteger())
SESSION = bindparam("session", type_=BigInteger())
EMAIL = bindparam("email_", type_=String())
HASH = bindparam("hash", type_=String())


@dataclass(frozen=True, slots=True)
class Account:
    user_id: int
    name: str
    email: str | None
    password_hash: str | None
    external_id: str | None


_ACCOUNT = select(
    users.c.id, users.c.name, users.c.email, users.c.password_hash, users.c.external_id
)
ADD_USER = Query(
    insert(users)
    .values(
        name=bindparam("name"),
        created_at=NOW,
        email=bindparam("email"),
        password_hash=bindparam("password_hash"),
        external_id=bindparam("external_id"),
    )
    .returning(users.c.id)
)
BY_ID = Query(_ACCOUNT.where(users.c.id == USER))
BY_EMAIL = Query(_ACCOUNT.where(users.c.email == EMAIL))
BY_EXTERNAL_ID = Query(_ACCOUNT.where(users.c.external_id == bindparam("external_id")))
# A guest (no email, no identity provider) becomes an account.
ATTACH = Query(
    update(users)
    .where(users.c.id == USER, users.c.email.is_(None), users.c.external_id.is_(None))
    .values(email=EMAIL, password_hash=HASH, name=bindparam("name_"))
)

ADD_SESSION = Query(
    insert(sessions)
    .values(user_id=USER, created_at=NOW, expires_at=bindparam("until", type_=UTCDateTime()))
    .returning(sessions.c.id)
)
ADD_REFRESH = Query(
    insert(refresh_tokens).values(token_hash=HASH, session_id=SESSION, issued_at=NOW)
)
# A refresh token is spent once: of two uses, however they race, one finds it unused.
SPEND_REFRESH = Query(
    update(refresh_tokens)
    .where(refresh_tokens.c.token_hash == HASH, refresh_tokens.c.used_at.is_(None))
    .values(used_at=NOW)
    .returning(refresh_tokens.c.session_id)
)
REFRESH_SESSION = Query(
    select(refresh_tokens.c.session_id).where(refresh_tokens.c.token_hash == HASH)
)
# The session a spent token renews: its user, if it is live (not revoked, not lapsed).
LIVE_SESSION = Query(
    select(sessions.c.user_id).where(
        sessions.c.id == SESSION, sessions.c.revoked_at.is_(None), sessions.c.expires_at > NOW
    )
)
EXTEND_SESSION = Query(
    update(sessions)
    .where(sessions.c.id == SESSION)
    .values(expires_at=bindparam("until", type_=UTCDateTime()))
)
REVOKE_SESSION = Query(
    update(sessions)
    .where(sessions.c.id == SESSION, sessions.c.revoked_at.is_(None))
    .values(revoked_at=NOW)
)


def _account(row: Row) -> Account:
    return Account(
        user_id=row["id"],
        name=row["name"],
        email=row["email"],
        password_hash=row["password_hash"],
        external_id=row["external_id"],
    )


async def add_user(
    conn: Conn,
    *,
    name: str,
    now: datetime,
    email: str | None = None,
    password_hash: str | None = None,
    external_id: str | None = None,
) -> int:
    found = await conn.fetchval(
        ADD_USER,
        name=name,
        now=now,
        email=email,
        password_hash=password_hash,
        external_id=external_id,
    )
    return int(found)


async def by_id(conn: Conn, *, user_id: int) -> Account | None:
    row = await conn.fetchrow(BY_ID, user=user_id)
    return None if row is None else _account(row)


async def by_email(conn: Conn, *, email: str) -> Account | None:
    row = await conn.fetchrow(BY_EMAIL, email_=email)
    return None if row is None else _account(row)


async def by_external_id(conn: Conn, *, external_id: str) -> Account | None:
    row = await conn.fetchrow(BY_EXTERNAL_ID, external_id=external_id)
    return None if row is None else _account(row)


async def attach(conn: Conn, *, user_id: int, email: str, password_hash: str, name: str) -> bool:
    """The guest's email and password set; False when the user is no guest."""
    changed = await conn.execute(ATTACH, user=user_id, email_=email, hash=password_hash, name_=name)
    return changed == 1


async def add_session(conn: Conn, *, user_id: int, now: datetime, until: datetime) -> int:
    return int(await conn.fetchval(ADD_SESSION, user=user_id, now=now, until=until))


async def add_refresh(conn: Conn, *, token_hash: str, session_id: int, now: datetime) -> None:
    await conn.execute(ADD_REFRESH, hash=token_hash, session=session_id, now=now)


async def spend_refresh(conn: Conn, *, token_hash: str, now: datetime) -> int | None:
    """The session of an unused refresh token, which is now used; None otherwise."""
    found = await conn.fetchval(SPEND_REFRESH, hash=token_hash, now=now)
    return None if found is None else int(found)


async def session_of_refresh(conn: Conn, *, token_hash: str) -> int | None:
    """The session a refresh token was issued to, used or not; None: never issued."""
    found = await conn.fetchval(REFRESH_SESSION, hash=token_hash)
    return None if found is None else int(found)


async def live_session_user(conn: Conn, *, session_id: int, now: datetime) -> int | None:
    found = await conn.fetchval(LIVE_SESSION, session=session_id, now=now)
    return None if found is None else int(found)


async def extend_session(conn: Conn, *, session_id: int, until: datetime) -> None:
    await conn.execute(EXTEND_SESSION, session=session_id, until=until)


async def revoke_session(conn: Conn, *, session_id: int, now: datetime) -> bool:
    return await conn.execute(REVOKE_SESSION, session=session_id, now=now) == 1
