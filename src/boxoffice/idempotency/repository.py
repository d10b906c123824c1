"""SQL for remembered answers to requests sent with an Idempotency-Key."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, delete, insert, select

from boxoffice.query import Conn, Query
from boxoffice.tables import idempotency_keys as keys


@dataclass(frozen=True, slots=True)
class Remembered:
    fingerprint: str
    status_code: int
    body: str


FIND = Query(
    select(keys.c.fingerprint, keys.c.status_code, keys.c.body).where(
        keys.c.user_id == bindparam("user_id"), keys.c.key == bindparam("key")
    )
)
REMEMBER = Query(
    insert(keys).values(
        user_id=bindparam("user_id"),
        key=bindparam("key"),
        fingerprint=bindparam("fingerprint"),
        status_code=bindparam("status_code"),
        body=bindparam("body"),
        created_at=bindparam("now"),
    )
)
FORGET_BEFORE = Query(delete(keys).where(keys.c.created_at < bindparam("cutoff")))


async def find(conn: Conn, *, user_id: int, key: str) -> Remembered | None:
    row = await conn.fetchrow(FIND, user_id=user_id, key=key)
    if row is None:
        return None
    return Remembered(
        fingerprint=row["fingerprint"], status_code=row["status_code"], body=row["body"]
    )


async def remember(
    conn: Conn,
    *,
    user_id: int,
    key: str,
    fingerprint: str,
    status_code: int,
    body: str,
    now: datetime,
) -> None:
    await conn.execute(
        REMEMBER,
        user_id=user_id,
        key=key,
        fingerprint=fingerprint,
        status_code=status_code,
        body=body,
        now=now,
    )


async def forget_before(conn: Conn, *, cutoff: datetime) -> int:
    return await conn.execute(FORGET_BEFORE, cutoff=cutoff)
