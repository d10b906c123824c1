"""The sales view's one use case."""

from __future__ import annotations

from datetime import datetime

from boxoffice.sales import repository
from boxoffice.sales.model import ConcertSales
from boxoffice.storage.db import Database


async def sales(*, db: Database, now: datetime) -> list[ConcertSales]:
    """Seats sold, held and available at ``now`` and revenue, in one snapshot, so the
    counts of a schedule always add up to its seats."""
    async with db.read() as conn:
        return await repository.concerts_with_sales(conn, now=now)
