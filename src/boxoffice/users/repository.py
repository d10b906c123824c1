"""SQL for users."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, insert, select

from boxoffice.storage.query import Conn, Query
from boxoffice.storage.tables import users

ADD_USER = Query(
    insert(users).values(name=bindparam("name"), created_at=bindparam("now")).returning(users.c.id)
)
LOCK_USER = Query(select(users.c.id).where(users.c.id == bindparam("user_id")).with_for_update())


async def add_user(conn: Conn, *, name: str, now: datetime) -> int:
    return int(await conn.fetchval(ADD_USER, name=name, now=now))


async def lock_user(conn: Conn, *, user_id: int) -> bool:
    """Serialise one user's concurrent writes (row lock on PostgreSQL; SQLite's
    writers are already serial). False if there is no such user."""
    return await conn.fetchval(LOCK_USER, user_id=user_id) is not None
