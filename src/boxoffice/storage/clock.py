"""The database's clock, as ``boxoffice.clock.StorageClock`` hears it, and how far
this host's is from each storage's."""

from __future__ import annotations

import logging
import time

from prometheus_client import Gauge
from sqlalchemy import func, select

from boxoffice.clock import StorageClock
from boxoffice.storage.db import Database
from boxoffice.storage.query import Query

log = logging.getLogger("boxoffice")

# Host against storage, past which the log says so.
CLOCK_WARN_SECONDS = 1.0
# clock_timestamp(), not now(): now() is the transaction's start, which a statement
# waiting for a connection's transaction would read late.
DATABASE_NOW = Query(select(func.extract("epoch", func.clock_timestamp())), postgres_only=True)


async def hear_database(db: Database, clock: StorageClock) -> None:
    """Ask PostgreSQL the time, timed from a connection in hand (the wait for one from
    the pool is no part of the round trip the answer came in)."""
    async with db.statement() as conn:
        asked_at = time.monotonic()
        clock.heard(float(await conn.fetchval(DATABASE_NOW)), asked_at=asked_at)


class ClockWatch:
    """Exports how far this host's clock is from each storage's, and says so in the log
    when it passes the bound (once each way). Nothing is wrong while it is off (every
    instant that guards a seat or money is the storage's), but the host's NTP wants
    fixing."""

    def __init__(self, gauge: Gauge) -> None:
        self._gauge = gauge
        self._warned: dict[str, bool] = {}

    def saw(self, store: str, clock: StorageClock | None) -> None:
        if clock is None or not clock.heard_once:
            return
        ahead = clock.host_ahead()
        self._gauge.labels(store).set(ahead)
        off = abs(ahead) > CLOCK_WARN_SECONDS
        if off == self._warned.get(store, False):
            return
        self._warned[store] = off
        if off:
            way = "ahead of" if ahead > 0 else "behind"
            log.warning(
                "this host's clock is %.1f s %s %s's; boxoffice keeps time by %s's, "
                "but fix the host's NTP",
                abs(ahead),
                way,
                store,
                store,
            )
        else:
            log.info("this host's clock agrees with %s's again", store)
