"""One of the two instances is SIGKILLed mid-sale and started again; fans whose
instance vanished retry on the other."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from tests.faults.conftest import Launch
from tests.faults.harness import FaultRun

DOWN_SECONDS = 4.0


async def test_one_instance_killed_mid_sale_the_other_keeps_serving(
    launch: Launch, fault_database: str, fault_record: dict[str, Any]
) -> None:
    instances = launch(admission_capacity="12")
    victim = instances["a"]
    run = FaultRun(
        fault=f"instance a SIGKILLed, started again {DOWN_SECONDS:.0f} s later",
        instances=instances,
        database_url=fault_database,
        record=fault_record,
        dependency=None,
    )
    back: list[float] = []

    def refused_while_down(instance: str, sent_at: float, failed_at: float) -> bool:
        """Only the killed instance, only for a request that failed once the kill had
        landed (one already on its way, however long it had been, or one sent while it
        was down) and sent before it answered again, may be refused or reset."""
        started = run.timeline.started
        return (
            instance == "a"
            and started is not None
            and failed_at >= started
            and (not back or sent_at < back[0])
        )

    run.traffic.excuse = refused_while_down
    await run.start()
    try:
        await run.warm_up()
        run.timeline.begin()
        await asyncio.to_thread(victim.kill)
        await asyncio.sleep(DOWN_SECONDS)
        victim.start()
        await asyncio.to_thread(victim.wait_ready)
        back.append(time.monotonic())
        run.timeline.end()
        await run.recover()
        await run.settle()
    finally:
        await run.stop()

    failed_over = [a for a in run.traffic.answers if a.excused]
    if not failed_over:
        run.problems.append("no fan request reached the killed instance while it was down")
    survivor = [
        a for a in run.traffic.answers if a.instance == "b" and run.timeline.during(a.sent_at)
    ]
    if not any(a.status is not None and 200 <= a.status < 300 for a in survivor):
        run.problems.append("the surviving instance answered no fan 2xx while the other was down")
    await run.conclude()
    run.verdict()
