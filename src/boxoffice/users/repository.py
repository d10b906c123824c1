"""SQL for users."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from boxoffice.tables import users


async def add_user(conn: AsyncConnection, *, name: str, now: datetime) -> int:
    result = await conn.execute(
        insert(users).values(name=name, created_at=now).returning(users.c.id)
    )
    return int(result.scalar_one())


async def lock_user(conn: AsyncConnection, *, user_id: int) -> bool:
    """Serialise one user's concurrent writes (row lock on PostgreSQL; SQLite's
    writers are already serial). False if there is no such user."""
    result = await conn.execute(select(users.c.id).where(users.c.id == user_id).with_for_update())
    return result.scalar_one_or_none() is not None
