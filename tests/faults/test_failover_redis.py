"""The waiting room's Redis fails over mid-sale: Redis Sentinel promotes the replica
when the primary is killed, and the instances, configured with the sentinels, follow.

The replica is caught up when the primary dies (writes are held for the moment it
takes), so the promoted replica has the whole line: nobody's place is lost, and the
line is not started again. The control runs the same kill on instances given the
primary's own address: they never come back, which is what makes the scenario's
recovery mean something.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from redis.asyncio import Redis
from redis.exceptions import ReadOnlyError, RedisError

from boxoffice.http.problems import is_transient_redis_error
from boxoffice.queue import redis_client as redis_client_module
from boxoffice.queue.redis_client import RedisAddress, redis_client
from tests.faults.crowd import Fan
from tests.faults.harness import FaultRun, fault_env
from tests.faults.sentinel import MASTER_NAME, RedisNode, ReplicatedRedis, wait_promoted
from tests.faults.services import wait_until
from tests.integration.instances import Instance

CAPACITY = 6  # of 24 fans: most stand in line when the primary dies
PROMOTION_BOUND_SECONDS = 20.0
# The control's instances are given this long after the promotion to come back: more
# than the Sentinel scenario takes (docs/operations.md), so failing it is no accident.
CONTROL_BOUND_SECONDS = 8.0

StartPair = Callable[..., dict[str, Instance]]


@pytest.fixture
def replicated_redis(tmp_path: Path) -> Iterator[ReplicatedRedis]:
    cluster = ReplicatedRedis(tmp_path / "redis")
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def start_pair(tmp_path: Path, fault_database: str) -> Iterator[StartPair]:
    """Instances ``a`` and ``b`` on the suite's database and the given Redis settings
    (``redis_url``, or the sentinels with no URL at all), stopped afterwards."""
    started: list[Instance] = []

    def start(**redis: str) -> dict[str, Instance]:
        env = fault_env(database_url=fault_database, redis_url=redis.pop("redis_url", ""), **redis)
        if not env["BOXOFFICE_REDIS_URL"]:
            del env["BOXOFFICE_REDIS_URL"]
        pair = {name: Instance(env, tmp_path, name) for name in ("a", "b")}
        for instance in pair.values():
            instance.start()
            started.append(instance)
        for instance in pair.values():
            instance.wait_ready()
        return pair

    yield start
    for instance in started:
        instance.stop()


def _waiting(fans: list[Fan]) -> dict[str, int]:
    """Each fan standing in line now, and its place."""
    return {fan.name: fan.position for fan in fans if fan.state == "WAITING" and fan.queue}


def _places_after(run: FaultRun, waiting: dict[str, int]) -> dict[str, list[str]]:
    """What each fan in line at the kill was answered from then on, in order: 503s
    while Redis was failing over, then where it stood (``WAITING 3``, ``ADMITTED``)."""
    start = run.timeline.started
    assert start is not None
    seen: dict[str, list[str]] = {}
    for fan in run.crowd.fans:
        if fan.name not in waiting:
            continue
        told = seen[fan.name] = []
        for answer in fan.answers:
            if answer.sent_at >= start and answer.route.endswith("/queue/status"):
                if answer.status == 200:
                    break  # the place itself comes from the fan's statuses below
                told.append(answer.label)
        after = [(state, place) for at, state, place in fan.statuses if at >= start]
        if after:
            told.append(after[0][0] if after[0][0] != "WAITING" else f"WAITING {after[0][1]}")
    return seen


def _place_problems(waiting: dict[str, int], told: dict[str, list[str]]) -> list[str]:
    """A fan in line must come back to its place or one nearer the front (the line
    moved on), never further back, and never to an empty line."""
    problems = []
    for name, before in waiting.items():
        last = told.get(name, [])[-1:] or ["nothing"]
        state, _, place = last[0].partition(" ")
        if state == "ADMITTED":
            continue
        if state != "WAITING" or not place.isdigit() or int(place) > before:
            problems.append(
                f"{name} stood at {before} when the primary died, then: {told.get(name)}"
            )
    return problems


async def _line_resets(run: FaultRun) -> dict[str, Any]:
    views = {}
    for name in run.instances:
        sent = await run.admin(name)
        views[name] = sent.json().get("lineResets") if sent.status == 200 else sent.answer.label
    return views


async def test_redis_primary_killed_and_sentinel_promotes_the_replica(
    start_pair: StartPair,
    replicated_redis: ReplicatedRedis,
    fault_database: str,
    fault_record: dict[str, Any],
) -> None:
    run = FaultRun(
        fault="Redis primary SIGKILLed; Sentinel promotes the caught-up replica",
        instances=start_pair(
            redis_sentinels=replicated_redis.sentinel_addresses,
            redis_sentinel_master=MASTER_NAME,
        ),
        database_url=fault_database,
        record=fault_record,
        dependency="waitingRoom",
    )
    await run.prepare()
    await run.configure("a", capacity=CAPACITY, paused=False)
    run.watch()
    run.crowd.start(run.crowd.add_fans(24))
    try:
        await run.warm_up()
        run.timeline.begin()
        offset = await asyncio.to_thread(replicated_redis.pause_writes_until_caught_up)
        waiting = _waiting(run.crowd.fans)
        await asyncio.to_thread(replicated_redis.primary.kill)
        killed_at = time.monotonic()
        promoted = await asyncio.to_thread(
            wait_promoted, replicated_redis, timeout=PROMOTION_BOUND_SECONDS
        )
        run.timeline.end()
        await run.recover()
        await run.settle()
    finally:
        await run.stop()

    told = _places_after(run, waiting)
    if not waiting:
        run.problems.append("nobody stood in line when the primary was killed")
    run.problems += _place_problems(waiting, told)
    busy = run.crowd.counts("during").get("503 busy", 0)
    if not busy:
        run.problems.append("no fan was answered 503 busy while Redis failed over")
    resets = await _line_resets(run)
    if any(n != 0 for n in resets.values()):
        run.problems.append(
            f"the line was started again on the promoted replica: lineResets {resets}"
        )
    fault_record.update(
        {
            "replica_offset_at_kill": offset,
            "promotion_seconds": round(promoted, 2),
            "line_resets": resets,
            "waiting_at_kill": waiting,
            "fans_in_line_were_told": told,
        }
    )
    await run.conclude()
    if run.recovered_at is not None:
        fault_record["kill_to_recovered_seconds"] = round(run.recovered_at - killed_at, 2)
    run.verdict()


async def test_control_instances_given_the_primary_address_do_not_follow_a_failover(
    start_pair: StartPair, replicated_redis: ReplicatedRedis, fault_database: str
) -> None:
    """The same kill, the instances configured with ``REDIS_URL`` of the primary: the
    replica is promoted, and they still answer 503 well past the time the Sentinel
    scenario recovers in."""
    run = FaultRun(
        fault="control: Redis primary killed under instances that know only its URL",
        instances=start_pair(redis_url=replicated_redis.primary.url),
        database_url=fault_database,
        record={},
        dependency="waitingRoom",
    )
    await run.prepare()
    run.crowd.start(run.crowd.add_fans(8))
    try:
        await run.warm_up(payments=4)
        await asyncio.to_thread(replicated_redis.pause_writes_until_caught_up)
        await asyncio.to_thread(replicated_redis.primary.kill)
        await asyncio.to_thread(wait_promoted, replicated_redis, timeout=PROMOTION_BOUND_SECONDS)
        recovery = await run.crowd.recover(since=time.monotonic(), bound=CONTROL_BOUND_SECONDS)
    finally:
        await run.stop()
        await run.traffic.close()
    assert recovery == {"a": None, "b": None}, (
        f"instances that know only the dead primary's URL recovered: {recovery}; the "
        "Sentinel scenario's recovery would then not show that the sentinels were used"
    )


class Writer:
    """Writes through one client as a sale does (a Lua script, one new key each time),
    keeping when each write was acknowledged and every error it met."""

    def __init__(self, client: Redis) -> None:
        self.client = client
        self.script = client.register_script("return redis.call('SET', KEYS[1], '1')")
        self.acknowledged: list[tuple[str, float]] = []
        self.errors: list[tuple[float, RedisError]] = []
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._write())

    async def _write(self) -> None:
        for i in itertools.count():
            if self._stopping:  # a cancellation the client swallowed mid-reconnect
                return
            key = f"failover-write:{i}"
            try:
                await self.script(keys=[key])
            except RedisError as exc:
                self.errors.append((time.monotonic(), exc))
            else:
                self.acknowledged.append((key, time.monotonic()))
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        assert self._task is not None
        self._stopping = True
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        await self.client.aclose()

    def would_be_500(self) -> list[str]:
        return [repr(exc) for _, exc in self.errors if not is_transient_redis_error(exc)]

    def missing_on(self, node: RedisNode, *, since: float) -> list[str]:
        """Writes acknowledged from ``since`` on that ``node`` does not have."""
        keys = [key for key, at in self.acknowledged if at >= since]
        with redis.Redis(port=node.port) as admin:
            found = admin.exists(*keys) if keys else 0
            if found == len(keys):
                return []
            return [key for key in keys if not admin.exists(key)]


async def _fail_over(cluster: ReplicatedRedis, to: RedisNode) -> float:
    """Ask the sentinels for a failover (the primary stays up); when they all name
    ``to`` the primary, on the monotonic clock."""
    with redis.Redis(port=cluster.sentinels[0].port) as sentinel:
        sentinel.execute_command("SENTINEL", "FAILOVER", MASTER_NAME)
    await asyncio.to_thread(
        wait_until,
        lambda: cluster.named_primary() == to.port,
        timeout=PROMOTION_BOUND_SECONDS,
        what="the sentinels naming the new primary",
    )
    return time.monotonic()


async def test_a_primary_demoted_or_left_up_by_a_failover_loses_no_write_after_it(
    replicated_redis: ReplicatedRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An operator's failover leaves the old primary up. Demoted at once, it answers
    READONLY, and the client reconnects to the new primary instead of failing (a
    client given the old primary's URL gets READONLY from then on). Left a master for
    a while (the sentinels demote it seconds later), it would take writes that its
    demotion then throws away: the client moves within ``FOLLOW_SECONDS`` anyway."""
    cluster = replicated_redis
    old, new = cluster.primary, cluster.replica
    address = RedisAddress(sentinels=tuple(cluster.sentinel_list), master=MASTER_NAME)

    # READONLY alone: the pool does not look for a moved primary on its own here.
    monkeypatch.setattr(redis_client_module, "FOLLOW_SECONDS", 3600.0)
    following = Writer(redis_client(address, pool_size=4, timeout_seconds=1.0))
    pinned = Writer(redis_client(old.url, pool_size=4, timeout_seconds=1.0))
    for writer in (following, pinned):
        writer.start()
    await asyncio.sleep(0.3)
    await _fail_over(cluster, new)
    with redis.Redis(port=old.port) as demoted:
        demoted.execute_command("REPLICAOF", "127.0.0.1", str(new.port))
    demoted_at = time.monotonic()
    await asyncio.sleep(1.0)
    for writer in (following, pinned):
        await writer.stop()
    problems = []
    after = [key for key, at in following.acknowledged if at > demoted_at]
    if not after:
        problems.append(f"no write went through after the demotion: {following.errors[-3:]}")
    problems += [f"a write the app would answer 500: {e}" for e in following.would_be_500()]
    lost = following.missing_on(new, since=demoted_at)
    if lost:
        problems.append(
            f"{len(lost)} writes acknowledged after the demotion are not on the new primary"
        )
    if not any(isinstance(exc, ReadOnlyError) for at, exc in pinned.errors if at > demoted_at):
        problems.append("the control, pinned to the old primary, never met READONLY")

    # Left up: the second failover, back to the first server, demotes nobody at once.
    monkeypatch.setattr(redis_client_module, "FOLLOW_SECONDS", 1.0)
    await asyncio.to_thread(
        wait_until,
        lambda: old.info().get("master_link_status") == "up",
        timeout=10,
        what="the demoted primary replicating from the new one",
    )
    following = Writer(redis_client(address, pool_size=4, timeout_seconds=1.0))
    following.start()
    await asyncio.sleep(0.3)
    switched_at = await _fail_over(cluster, old)
    settled = switched_at + redis_client_module.FOLLOW_SECONDS + 0.2
    await asyncio.sleep(settled + 1.0 - time.monotonic())
    still_master = new.info()["role"] == "master"
    await following.stop()
    problems += [f"a write the app would answer 500: {e}" for e in following.would_be_500()]
    lost = following.missing_on(old, since=settled)
    if lost:
        problems.append(
            f"{len(lost)} writes acknowledged more than {redis_client_module.FOLLOW_SECONDS} s "
            "after the sentinels named the new primary are not on it (they went to the old one)"
        )
    if not still_master:
        problems.append(
            "the sentinels demoted the old primary too soon for this check to mean anything"
        )
    assert not problems, "\n".join(problems)
