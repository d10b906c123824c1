"""Registration: a user, an empty wallet and the access token that names them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from boxoffice.errors import UserNotFound
from boxoffice.storage.db import Database
from boxoffice.storage.query import Conn
from boxoffice.tokens import TokenSigner
from boxoffice.users import repository
from boxoffice.wallet import service as wallet_service


@dataclass(frozen=True, slots=True)
class Registration:
    user_id: int
    name: str
    access_token: str


async def register(
    *, db: Database, signer: TokenSigner, name: str, now: datetime, token_ttl: timedelta
) -> Registration:
    async def work(conn: Conn) -> int:
        user_id = await repository.add_user(conn, name=name, now=now)
        await wallet_service.open_wallet(conn, user_id=user_id)
        return user_id

    user_id = await db.run(work)
    token = signer.access_token(user_id=user_id, now=now, ttl=token_ttl)
    return Registration(user_id=user_id, name=name, access_token=token)


async def lock_user(conn: Conn, *, user_id: int) -> None:
    """Take the user's row lock inside the caller's transaction."""
    if not await repository.lock_user(conn, user_id=user_id):
        raise UserNotFound("the token names a user that does not exist")
