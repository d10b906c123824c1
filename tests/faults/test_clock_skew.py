"""One instance's wall clock is 90 s off (ahead, or behind): the line must keep its
time from one place, so nobody is dropped and admission stays first come first
served, whichever instance fans talk to."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from tests.faults.conftest import Launch
from tests.faults.crowd import Fan
from tests.faults.harness import FaultRun
from tests.faults.services import LIBFAKETIME

QUIET_SECONDS = 5.0  # b serves nobody, its background tick still runs
TRAFFIC_SECONDS = 5.0
EARLY, LATE, ADMIT = 16, 8, 20


def skewed(seconds: int) -> dict[str, str]:
    """Environment that runs one process with its wall clock moved by ``seconds``.
    Monotonic clocks are left alone, so asyncio's timers and timeouts are real."""
    if not Path(LIBFAKETIME).exists():
        pytest.fail(
            f"the clock-skew scenario needs libfaketime at {LIBFAKETIME} "
            "(apt-get install faketime)",
            pytrace=False,
        )
    return {"LD_PRELOAD": LIBFAKETIME, "FAKETIME": f"{seconds:+d}s", "DONT_FAKE_MONOTONIC": "1"}


async def _clock_of(run: FaultRun, instance: str) -> float | None:
    """How far the instance's host clock is from the database's, as it says on
    ``/metrics`` (its answers' ``Date`` is the storage's time, whatever its host's)."""
    sent = await run.traffic.send(instance, "GET", "/metrics", keep=False)
    if sent.response is None:
        return None
    for line in sent.response.text.splitlines():
        if line.startswith('boxoffice_clock_offset_seconds{store="database"}'):
            return float(line.split()[-1])
    return None


async def _line_holds(run: FaultRun, line: list[Fan], when: str) -> None:
    """Each fan, polled through the instance it uses, is WAITING exactly where its
    arrival puts it."""
    wrong = []
    for place, fan in enumerate(line, start=1):
        sent = await run.traffic.send(
            fan.home, "GET", "/api/v1/queue/status", token=fan.queue, token_born=fan.queue_born
        )
        seen = (
            (sent.json()["status"], sent.json()["position"])
            if sent.status == 200
            else sent.answer.label
        )
        if seen != ("WAITING", place):
            wrong.append(f"{fan.name} via {fan.home}: {seen} (want WAITING at {place})")
    if wrong:
        run.problems.append(f"{when}, {len(wrong)} fans out of place: {wrong[:6]}")


async def _enrol_in_order(run: FaultRun, fans: list[Fan]) -> None:
    for fan in fans:
        if not (await run.crowd.enrol(fan) and await run.crowd.join(fan)):
            run.problems.append(f"{fan.name} could not register and join through {fan.home}")


@pytest.mark.parametrize("skew", [90, -90], ids=["ahead", "behind"])
async def test_a_skewed_instance_drops_nobody_and_keeps_arrival_order(
    skew: int, launch: Launch, fault_database: str, fault_record: dict[str, Any]
) -> None:
    run = FaultRun(
        fault=f"instance b's clock {abs(skew)} s {'ahead' if skew > 0 else 'behind'} (libfaketime)",
        instances=launch(b_env=skewed(skew)),
        database_url=fault_database,
        record=fault_record,
        dependency=None,
    )
    await run.prepare()
    offset = await _clock_of(run, "b")
    fault_record["measured_skew_seconds"] = offset
    if offset is None or abs(offset - skew) > 10:
        run.problems.append(f"b's clock is {offset} s off ours, not {skew}: the skew did not apply")
    await run.configure("a", paused=True)
    run.watch(["a"])
    run.crowd.shopping.clear()  # admitted fans wait in phase 3, to be counted
    run.timeline.begin()
    try:
        # 1. The line forms through a; b gets no traffic at all for a while.
        early = run.crowd.add_fans(EARLY, prefix="early")
        for fan in early:
            fan.home = "a"
        await _enrol_in_order(run, early)
        run.crowd.start(early)
        await asyncio.sleep(QUIET_SECONDS)
        await _line_holds(run, early, f"after {QUIET_SECONDS:.0f} s with no traffic through b")

        # 2. Traffic through b: late fans join and poll only there, and half the early
        #    ones move over to b.
        run.watch(["b"])
        late = run.crowd.add_fans(LATE, prefix="late")
        for fan in [*late, *early[::2]]:
            fan.home = "b"
        await _enrol_in_order(run, late)
        run.crowd.start(late)
        await asyncio.sleep(TRAFFIC_SECONDS)
        line = [*early, *late]
        await _line_holds(run, line, f"after {TRAFFIC_SECONDS:.0f} s of traffic through b")

        # 3. Room for ADMIT of them: exactly the first ADMIT to arrive get in.
        await run.configure("a", capacity=ADMIT, paused=False)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if sum(fan.state == "ADMITTED" for fan in line) >= ADMIT:
                break
            await asyncio.sleep(0.2)
        await asyncio.sleep(1.5)  # every poller has looked again: nobody else got in
        admitted = [fan.name for fan in line if fan.state == "ADMITTED"]
        if admitted != [fan.name for fan in line[:ADMIT]]:
            run.problems.append(
                f"with room for {ADMIT}, admitted {admitted}; want the first {ADMIT} to arrive"
            )
        await _line_holds(run, line[ADMIT:], f"after admitting {ADMIT}")

        # 4. Everyone buys, through both instances, while b is still skewed.
        await run.configure("a", capacity=50)
        run.timeline.end()
        run.crowd.shopping.set()
        await run.recover()
        await run.settle()
    finally:
        await run.stop()
    await run.conclude()
    run.verdict()
