"""Sessions: one a signed-in device, carried by a short-lived access token and a
long-lived refresh token. The refresh token is a random secret kept in the database
only as its SHA-256 (a secret of 256 bits needs no slow hash), so a restart, another
instance or a new SECRET_KEY signs nobody out. Every use rotates it: the token used
is spent and a new one issued. A spent token used again means someone else had a
copy, and the whole session is revoked (the OAuth 2.0 security practice for refresh
token reuse); both copies then fail."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from boxoffice.errors import InvalidToken
from boxoffice.storage.db import Database
from boxoffice.storage.query import Conn
from boxoffice.tokens import TokenSigner
from boxoffice.users import repository


@dataclass(frozen=True, slots=True)
class Tokens:
    user_id: int
    session_id: int
    access_token: str
    access_expires_at: datetime
    refresh_token: str


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class _Spent(Enum):
    UNKNOWN = "unknown"  # never issued
    AGAIN = "again"  # used before: the session is revoked
    DEAD = "dead"  # its session was revoked or lapsed


class Sessions:
    def __init__(
        self, *, db: Database, signer: TokenSigner, access_ttl: timedelta, refresh_ttl: timedelta
    ) -> None:
        self._db = db
        self._signer = signer
        self._access_ttl = access_ttl
        self._refresh_ttl = refresh_ttl

    async def start(self, conn: Conn, *, user_id: int, now: datetime) -> Tokens:
        """A new session for the user, inside the caller's transaction."""
        session_id = await repository.add_session(
            conn, user_id=user_id, now=now, until=now + self._refresh_ttl
        )
        return await self._issue(conn, user_id=user_id, session_id=session_id, now=now)

    async def _issue(self, conn: Conn, *, user_id: int, session_id: int, now: datetime) -> Tokens:
        refresh = secrets.token_urlsafe(32)
        await repository.add_refresh(
            conn, token_hash=_hash(refresh), session_id=session_id, now=now
        )
        access = self._signer.access_token(
            user_id=user_id, now=now, ttl=self._access_ttl, session_id=session_id
        )
        return Tokens(user_id, session_id, access, now + self._access_ttl, refresh)

    async def refresh(self, token: str, *, now: datetime) -> Tokens:
        """A new access token and the refresh token that replaces ``token``."""

        async def rotate(conn: Conn) -> Tokens | _Spent:
            token_hash = _hash(token)
            session_id = await repository.spend_refresh(conn, token_hash=token_hash, now=now)
            if session_id is None:
                session_id = await repository.session_of_refresh(conn, token_hash=token_hash)
                if session_id is None:
                    return _Spent.UNKNOWN
                await repository.revoke_session(conn, session_id=session_id, now=now)
                return _Spent.AGAIN
            user_id = await repository.live_session_user(conn, session_id=session_id, now=now)
            if user_id is None:
                return _Spent.DEAD
            await repository.extend_session(
                conn, session_id=session_id, until=now + self._refresh_ttl
            )
            return await self._issue(conn, user_id=user_id, session_id=session_id, now=now)

        rotated = await self._db.run(rotate)
        if rotated is _Spent.AGAIN:
            raise InvalidToken("this refresh token was used before: the session is revoked")
        if isinstance(rotated, _Spent):
            raise InvalidToken("the refresh token is not valid: sign in again")
        return rotated

    async def end(self, *, session_id: int, now: datetime) -> None:
        """Revoke the session: its refresh token no longer renews anything."""

        async def revoke(conn: Conn) -> None:
            await repository.revoke_session(conn, session_id=session_id, now=now)

        await self._db.run(revoke)
