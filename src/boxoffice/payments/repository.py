"""SQL for payment records."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from boxoffice.tables import payments


async def add(
    conn: AsyncConnection, *, reservation_id: int, user_id: int, amount: int, now: datetime
) -> int:
    result = await conn.execute(
        insert(payments)
        .values(reservation_id=reservation_id, user_id=user_id, amount=amount, paid_at=now)
        .returning(payments.c.id)
    )
    return int(result.scalar_one())
