"""The waiting room's Redis fails mid-sale: killed and restarted empty, or frozen."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from tests.faults.conftest import Launch
from tests.faults.crowd import GATED
from tests.faults.harness import FaultRun
from tests.faults.services import RedisServer

OPERATOR_CAPACITY = 12
OPERATOR_PACE = 6_000
REDIS_DOWN_SECONDS = 3.0
FREEZE_SECONDS = 5.0


def _view_problems(
    name: str, view: dict[str, Any], *, paused: bool, resets_above: int, since: datetime
) -> list[str]:
    """What is wrong with an operator's view after the line was rebuilt."""
    problems = []
    settings = (view.get("capacity"), view.get("admissionPerMinute"), view.get("paused"))
    if settings != (OPERATOR_CAPACITY, OPERATOR_PACE, paused):
        problems.append(
            f"{name}'s waiting room after the restart has capacity/pace/paused {settings}; the "
            f"operator had set {(OPERATOR_CAPACITY, OPERATOR_PACE, paused)}"
        )
    resets, reset_at = view.get("lineResets"), view.get("lineResetAt")
    if not isinstance(resets, int) or resets <= resets_above:
        problems.append(
            f"{name}'s waiting-room view reports lineResets={resets!r}; want more than "
            f"{resets_above} after the line was found empty"
        )
    try:
        when = datetime.fromisoformat(str(reset_at).replace("Z", "+00:00"))
    except ValueError:
        problems.append(f"{name}'s waiting-room view reports lineResetAt={reset_at!r}")
    else:
        if when < since - timedelta(seconds=2):
            problems.append(f"{name}: lineResetAt {reset_at} is before the restart at {since}")
    return problems


async def _settled_views(
    run: FaultRun, *, bound: float, wrong: Callable[[str, dict[str, Any]], list[str]]
) -> dict[str, dict[str, Any]]:
    """Each instance's operator view, read until it answers 200 with nothing
    ``wrong`` or ``bound`` passes (an instance shows a setting made through another
    about a second later); what is still wrong then goes into the problems."""
    views: dict[str, dict[str, Any]] = {}
    settled: set[str] = set()
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline and len(settled) < len(run.instances):
        for name in run.instances:
            if name not in settled:
                sent = await run.admin(name)
                if sent.status == 200:
                    views[name] = sent.json()
                    if not wrong(name, views[name]):
                        settled.add(name)
        await asyncio.sleep(0.25)
    for name in run.instances:
        if name in views:
            run.problems += [] if name in settled else wrong(name, views[name])
        else:
            last = await run.admin(name)
            run.problems.append(
                f"GET /admin/waiting-room on {name} did not answer 200 within {bound:.0f} s "
                f"of the restart: {last.answer.label}"
            )
    return views


async def _old_tokens_are_dead(run: FaultRun, before: float) -> None:
    """Every queue token issued before Redis was lost answers 401 token_expired, on
    status and at the gate, on both instances."""
    old = [(fan, token) for fan in run.crowd.fans for token, born in fan.tokens if born < before]
    schedules = f"/api/v1/concerts/{run.crowd.concert_id}/schedules"
    alive = []
    for i, (fan, token) in enumerate(old):
        for name in run.instances:
            path = "/api/v1/queue/status" if i % 2 else schedules
            sent = await run.traffic.send(name, "GET", path, token=token, keep=False)
            if (sent.status, sent.answer.code) != (401, "token_expired"):
                alive.append(f"{fan.name} {sent.answer.route} on {name} -> {sent.answer.label}")
    if not old:
        run.problems.append("no fan held a queue token when Redis was killed")
    if alive:
        run.problems.append(
            f"{len(alive)} of {2 * len(old)} checks of tokens issued before the restart did "
            f"not answer 401 token_expired: {alive[:5]}"
        )


def _old_tokens_never_passed(run: FaultRun) -> None:
    """Nobody is let through the gate, or told they stand in line, on a ticket that
    died with the old Redis."""
    start, recovered = run.timeline.started, run.recovered_at
    assert start is not None
    passed = [
        a
        for a in run.traffic.answers
        if a.token_born is not None
        and a.token_born < start <= a.sent_at
        and a.status is not None
        and 200 <= a.status < 300
        and not a.replayed  # a payment made before, answered again: no new admission
        and (
            any(a.route.endswith(g) for g in GATED)
            or (recovered is not None and a.sent_at > recovered)
        )
    ]
    if passed:
        run.problems.append(
            f"{len(passed)} answers 2xx to tokens issued before the restart: "
            + "; ".join(f"{a.route} on {a.instance} -> {a.label}" for a in passed[:5])
        )


async def _paused_survives_a_restart(run: FaultRun, redis: RedisServer) -> None:
    """An operator pauses, Redis is lost again: still paused, and the line rebuilt
    from nothing admits in arrival order once resumed."""
    resets: dict[str, int] = {}
    for name in run.instances:
        sent = await run.admin(name)
        counted = sent.json().get("lineResets") if sent.status == 200 else None
        resets[name] = counted if isinstance(counted, int) else 0
    await run.configure("b", paused=True)
    since = datetime.now().astimezone()
    await asyncio.to_thread(redis.kill)
    await asyncio.to_thread(redis.start)
    run.crowd.give_up_at = time.monotonic() + 15
    await _settled_views(
        run,
        bound=15,
        wrong=lambda name, view: _view_problems(
            name, view, paused=True, resets_above=resets[name], since=since
        ),
    )
    # Three fans of the sale come back with the token they last had: told it is gone,
    # they join again, and stand in the empty line in the order they came back.
    returning = [fan for fan in run.crowd.fans if fan.tokens][:3]
    for fan, home in zip(returning, "aba", strict=False):
        fan.home, fan.queue, fan.queue_born = home, *fan.tokens[-1]
        old = await run.crowd.poll(fan)
        told = None if old is None else (old.status, old.answer.code)
        if told != (401, "token_expired"):
            run.problems.append(
                f"{fan.name}'s token from before the second restart was answered "
                f"{told}; want 401 token_expired"
            )
        fan.queue, fan.lost_token = "", True
        if not await run.crowd.join(fan):
            run.problems.append(f"{fan.name} could not join again after the restart")
            return
    joined = [(fan.state, fan.position) for fan in returning]
    if joined != [("WAITING", 1), ("WAITING", 2), ("WAITING", 3)]:
        run.problems.append(
            f"three fans joining the rebuilt, paused line were answered {joined}; "
            "want WAITING at positions 1, 2, 3"
        )
    await asyncio.sleep(1.5)  # at least one admission tick on each instance
    for fan in returning:
        fan.home = run.traffic.other(fan.home)
        await run.crowd.poll(fan)
    polled = [(fan.state, fan.position) for fan in returning]
    if polled != [("WAITING", 1), ("WAITING", 2), ("WAITING", 3)]:
        run.problems.append(
            f"polled on the other instance while paused, the three were {polled}; "
            "want still WAITING at 1, 2, 3"
        )
    await run.configure("a", paused=False)


async def test_redis_killed_and_restarted_empty_mid_sale(
    launch: Launch, redis_server: RedisServer, fault_database: str, fault_record: dict[str, Any]
) -> None:
    run = FaultRun(
        fault=f"Redis SIGKILLed, restarted empty {REDIS_DOWN_SECONDS:.0f} s later",
        instances=launch(),
        database_url=fault_database,
        record=fault_record,
        dependency="waitingRoom",
        tokens_may_vanish=True,
    )
    await run.prepare()
    await run.configure(
        "a", capacity=OPERATOR_CAPACITY, admissionPerMinute=OPERATOR_PACE, paused=False
    )
    run.watch()
    run.crowd.start(run.crowd.add_fans(24))
    try:
        await run.warm_up()
        run.timeline.begin()
        await asyncio.to_thread(redis_server.kill)
        await asyncio.sleep(REDIS_DOWN_SECONDS)
        await asyncio.to_thread(redis_server.start)
        run.timeline.end()
        await run.recover()
        await run.settle()
    finally:
        await run.stop()
    assert run.timeline.started is not None and run.timeline.started_wall is not None

    lost_at = run.timeline.started_wall
    views = await _settled_views(
        run,
        bound=10,
        wrong=lambda name, view: _view_problems(
            name, view, paused=False, resets_above=0, since=lost_at
        ),
    )
    if not any(at >= run.timeline.started for at, _, _ in run.crowd.lost):
        run.problems.append("no fan was told its ticket vanished (401 token_expired)")
    _old_tokens_never_passed(run)
    await _old_tokens_are_dead(run, run.timeline.started)
    fault_record["after_restart_views"] = views
    await _paused_survives_a_restart(run, redis_server)

    await run.conclude()
    run.verdict()


async def test_redis_frozen_for_seconds_mid_sale(
    launch: Launch, redis_server: RedisServer, fault_database: str, fault_record: dict[str, Any]
) -> None:
    run = FaultRun(
        fault=f"Redis frozen (SIGSTOP) for {FREEZE_SECONDS:.0f} s, then thawed",
        instances=launch(),
        database_url=fault_database,
        record=fault_record,
        dependency="waitingRoom",
    )
    await run.prepare()
    await run.configure("a", capacity=OPERATOR_CAPACITY)
    run.watch()
    run.crowd.start(run.crowd.add_fans(24))
    try:
        await run.warm_up()
        run.timeline.begin()
        redis_server.freeze()
        try:
            await asyncio.sleep(FREEZE_SECONDS)
        finally:
            redis_server.thaw()
        run.timeline.end()
        await run.recover()
        await run.settle()
    finally:
        await run.stop()
    await _settled_views(
        run,
        bound=5,
        wrong=lambda name, view: (
            []
            if view.get("lineResets") == 0
            else [
                f"{name}'s view reports lineResets={view.get('lineResets')!r} after a "
                "freeze that lost nothing; want 0"
            ]
        ),
    )
    await run.conclude()
    run.verdict()
