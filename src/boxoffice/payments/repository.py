"""SQL for payment records."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, insert

from boxoffice.query import Conn, Query
from boxoffice.tables import payments

ADD = Query(
    insert(payments)
    .values(
        reservation_id=bindparam("reservation_id"),
        user_id=bindparam("user_id"),
        amount=bindparam("amount"),
        paid_at=bindparam("now"),
    )
    .returning(payments.c.id)
)


async def add(conn: Conn, *, reservation_id: int, user_id: int, amount: int, now: datetime) -> int:
    found = await conn.fetchval(
        ADD, reservation_id=reservation_id, user_id=user_id, amount=amount, now=now
    )
    return int(found)
