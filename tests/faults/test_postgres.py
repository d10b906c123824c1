"""PostgreSQL fails mid-sale: stopped and started again, or frozen."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.faults.conftest import Launch
from tests.faults.harness import FaultRun
from tests.faults.services import PostgresCluster

DOWN_SECONDS = 4.0
# Longer than the database wait bound (about 6 s), so the bound itself is exercised.
FREEZE_SECONDS = 7.0


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
    run.verdict()
