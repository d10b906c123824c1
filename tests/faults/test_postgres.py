"""PostgreSQL fails mid-sale: stopped and started again, or frozen."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import literal, select

from boxoffice.storage.db import Database
from boxoffice.storage.errors import Unreachable
from boxoffice.storage.query import Conn, Query
from tests.faults.conftest import Launch
from tests.faults.harness import FaultRun
from tests.faults.services import PostgresCluster

DOWN_SECONDS = 4.0
# Longer than any wait a request could stack on a frozen server (a statement's timeout,
# then asyncpg waiting as long again for its cancellation: 12 s), so every wait ends
# by its own bound and never by the thaw.
FREEZE_SECONDS = 14.0
# docs/operations.md: "nothing waits past 10 s".
ANSWER_BOUND_SECONDS = 10.0
# docs/deployment.md: the longer of the pool wait and the statement timeout (5 s each
# by default), and a second.
DATABASE_WAIT_SECONDS = 6.0
ONE = Query(select(literal(1)))


async def test_postgres_stopped_and_started_again_mid_sale(
    launch: Launch,
    postgres_cluster: PostgresCluster,
    fault_database: str,
    fault_record: dict[str, Any],
) -> None:
    run = FaultRun(
        fault=f"PostgreSQL stopped (pg_ctl stop -m fast), started {DOWN_SECONDS:.0f} s later",
        instances=launch(admission_capacity="12"),
        database_url=fault_database,
        record=fault_record,
        dependency="database",
    )
    await run.start()
    try:
        await run.warm_up()
        run.timeline.begin()
        await asyncio.to_thread(postgres_cluster.stop_fast)
        await asyncio.sleep(DOWN_SECONDS)
        await asyncio.to_thread(postgres_cluster.start)
        run.timeline.end()
        await run.recover()
        await run.settle()
    finally:
        await run.stop()
        await asyncio.to_thread(postgres_cluster.ensure_running)
    await run.conclude()
    run.verdict()


async def test_postgres_frozen_for_seconds_mid_sale(
    launch: Launch,
    postgres_cluster: PostgresCluster,
    fault_database: str,
    fault_record: dict[str, Any],
) -> None:
    run = FaultRun(
        fault=f"PostgreSQL frozen (SIGSTOP on all its processes) for {FREEZE_SECONDS:.0f} s",
        instances=launch(admission_capacity="12"),
        database_url=fault_database,
        record=fault_record,
        dependency="database",
    )
    await run.start()
    try:
        await run.warm_up()
        run.timeline.begin()
        postgres_cluster.freeze()
        try:
            await asyncio.sleep(FREEZE_SECONDS)
        finally:
            postgres_cluster.thaw()
        run.timeline.end()
        await run.recover()
        await run.settle()
    finally:
        await run.stop()
    await run.conclude()
    slowest = run.record["slowest_seconds"]
    if slowest is not None and slowest >= ANSWER_BOUND_SECONDS:
        run.problems.append(
            f"the slowest answer took {slowest} s ({run.record['slowest']}): "
            f"nothing may wait past {ANSWER_BOUND_SECONDS:.0f} s"
        )
    run.verdict()


async def test_no_use_of_a_frozen_database_outlasts_one_bound(
    postgres_cluster: PostgresCluster, fault_database: str
) -> None:
    """Each way into the database, with more callers than the pool has connections,
    while the server is frozen: every one is Unreachable within one bound (about 6 s),
    whether it waited for a connection, to connect, or for a statement's answer, and
    however its retries went."""
    db = Database(fault_database, pool_size=4)

    async def one_statement(conn: Conn) -> object:
        return await conn.fetchval(ONE)

    async def timed(use: Callable[[], Awaitable[object]]) -> tuple[float, str]:
        started = time.monotonic()
        try:
            await use()
        except Unreachable as error:
            return time.monotonic() - started, type(error).__name__
        except Exception as error:  # a wrong kind of failure is reported, not raised
            return time.monotonic() - started, repr(error)
        return time.monotonic() - started, "answered"

    async def through_statement() -> object:
        async with db.statement() as conn:
            return await one_statement(conn)

    async def through_read() -> object:
        async with db.read() as conn:
            return await one_statement(conn)

    uses: list[Callable[[], Awaitable[object]]] = [
        lambda: db.run(one_statement),
        lambda: db.run_statement(one_statement, retry_lost=True),
        through_statement,
        through_read,
        db.ping,
    ]
    try:
        await asyncio.gather(*(db.ping() for _ in range(4)))  # the pool's connections open
        postgres_cluster.freeze()
        try:
            found = await asyncio.gather(*(timed(uses[i % len(uses)]) for i in range(20)))
        finally:
            postgres_cluster.thaw()
    finally:
        await db.dispose()
    slowest = max(seconds for seconds, _ in found)
    assert {outcome for _, outcome in found} == {"Unreachable"}, found
    assert slowest < DATABASE_WAIT_SECONDS + 0.5, found
