"""After a run, the invariants read back from storage: a broken one fails the run."""

from __future__ import annotations

import itertools
from typing import Any

from redis.asyncio import Redis
from sqlalchemy import func, select

from boxoffice import audit
from boxoffice.db import Database
from boxoffice.tables import payments, seats
from boxoffice_bench.server import BenchServer


async def check_invariants(server: BenchServer) -> list[str]:
    """DESIGN's I1 to I3 on the run's PostgreSQL database and Redis line: each seat
    sold at most once and paid for, every ledger summing to its balance, no balance
    below zero, no admission out of arrival order."""
    problems = await _storage(server.database_url)
    redis = Redis.from_url(server.redis_url)
    try:
        events: Any = await redis.xrange(server.prefix + "events")
    finally:
        await redis.aclose()
    admitted = [int(f[b"s"]) for _, f in events if f[b"e"] == b"a"]
    inversions = sum(1 for a, b in itertools.pairwise(admitted) if b < a)
    if inversions:
        problems.append(f"{inversions} admissions out of arrival order")
    return problems


async def _storage(database_url: str) -> list[str]:
    db = Database(database_url)
    try:
        problems = await audit.audit(db)
        async with db.read() as conn:
            sold = (
                await conn.execute(
                    select(func.count())
                    .select_from(seats)
                    .where(seats.c.sold_reservation_id.is_not(None))
                )
            ).scalar_one()
            paid = (await conn.execute(select(func.count()).select_from(payments))).scalar_one()
    finally:
        await db.dispose()
    if sold != paid:
        problems.append(f"{sold} seats sold but {paid} payments")
    return problems
