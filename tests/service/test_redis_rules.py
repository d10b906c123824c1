"""A Redis line's shared rules: re-read at most once a second per instance, in the
background and by one read however many requests want them at that moment, and never
rolled back by a read that was already out when this instance changed them. And its
steps asked by many requests at one instant: one script call, each request answered
as if it had gone alone."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest

from boxoffice.queue import rules_cache
from boxoffice.queue.model import DEFAULT_LINE, LineRules, QueueState
from boxoffice.queue.redis_store import RedisQueueStore
from tests.conftest import REDIS_URL
from tests.support import eventually

RULES = LineRules(capacity=5, per_minute=60, paused=False, waiter_timeout=30.0, admitted_idle=100.0)


@pytest.fixture
async def store(redis_prefix: str) -> AsyncIterator[RedisQueueStore]:
    s = RedisQueueStore.from_url(REDIS_URL, prefix=redis_prefix)
    await s.seed(DEFAULT_LINE, RULES)
    await s.start()
    yield s
    await s.close()


class CountedReads:
    """Counts the rules reads a store sends, and can hold them in flight."""

    def __init__(self, store: RedisQueueStore, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        self.release = asyncio.Event()
        self.release.set()
        client = store._redis  # the one place a read can be observed
        original = client.hgetall

        async def hgetall(name: str) -> Any:
            self.count += 1
            answer = await original(name)
            await self.release.wait()
            return answer

        monkeypatch.setattr(client, "hgetall", hgetall)


async def test_the_first_requests_share_one_read_and_wait_for_it(
    store: RedisQueueStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads = CountedReads(store, monkeypatch)
    reads.release.clear()
    waiting = [asyncio.ensure_future(store.rules(DEFAULT_LINE)) for _ in range(50)]
    await asyncio.sleep(0.05)
    assert not any(w.done() for w in waiting)  # nothing to answer with yet
    reads.release.set()
    assert await asyncio.gather(*waiting) == [RULES] * 50
    assert reads.count == 1


async def test_later_requests_never_wait_for_a_due_read(
    store: RedisQueueStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    await store.rules(DEFAULT_LINE)
    reads = CountedReads(store, monkeypatch)
    monkeypatch.setattr(rules_cache, "RULES_REFRESH_SECONDS", 0.0)
    reads.release.clear()  # the read, once started, hangs
    answers = [await asyncio.wait_for(store.rules(DEFAULT_LINE), timeout=1) for _ in range(50)]
    assert answers == [RULES] * 50
    await asyncio.sleep(0.05)
    assert reads.count == 1
    reads.release.set()


async def test_rules_changed_elsewhere_arrive_once_due(
    store: RedisQueueStore, redis_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = RedisQueueStore.from_url(REDIS_URL, prefix=redis_prefix)
    try:
        assert await store.rules(DEFAULT_LINE) == RULES
        changed = replace(RULES, capacity=9)
        await other.configure(DEFAULT_LINE, changed)
        assert await store.rules(DEFAULT_LINE) == RULES  # read under a second ago: kept
        monkeypatch.setattr(rules_cache, "RULES_REFRESH_SECONDS", 0.0)
        await store.rules(DEFAULT_LINE)  # due: the read starts

        async def arrived() -> bool:
            return await store.rules(DEFAULT_LINE) == changed

        await eventually(arrived)
    finally:
        await other.close()


async def test_a_read_already_out_does_not_undo_a_change_made_here(
    store: RedisQueueStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads = CountedReads(store, monkeypatch)
    monkeypatch.setattr(rules_cache, "RULES_REFRESH_SECONDS", 0.0)
    await store.rules(DEFAULT_LINE)
    reads.release.clear()
    assert await store.rules(DEFAULT_LINE) == RULES  # due: a read starts and is held
    await asyncio.sleep(0.05)  # ...with its (old) answer in hand
    changed = replace(RULES, paused=True)
    await store.configure(DEFAULT_LINE, changed)
    reads.release.set()
    await asyncio.sleep(0.05)
    monkeypatch.setattr(rules_cache, "RULES_REFRESH_SECONDS", 60.0)
    assert await store.rules(DEFAULT_LINE) == changed


def _count_steps(store: RedisQueueStore, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    steps: list[str] = []
    original = store._scripts.run

    async def run(step: str, *args: Any) -> Any:
        steps.append(step)
        return await original(step, *args)

    monkeypatch.setattr(store._scripts, "run", run)
    return steps


async def test_fans_leaving_at_one_instant_leave_in_one_call_each_answered_alone(
    store: RedisQueueStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    expires = int(time.time()) + 600
    for user in range(1, 7):  # five let in, the sixth waiting
        await store.join(line=DEFAULT_LINE, user_id=user, jti=f"j{user}", token_expires_at=expires)
    waiting = await store.gate(line=DEFAULT_LINE, user_id=6, jti="j6")
    assert waiting is not None and waiting.state is QueueState.WAITING
    steps = _count_steps(store, monkeypatch)
    left = await asyncio.gather(
        store.leave(line=DEFAULT_LINE, user_id=1, jti="j1"),
        store.leave(line=DEFAULT_LINE, user_id=2, jti="not-its-token"),
        store.leave(line=DEFAULT_LINE, user_id=3, jti="j3"),
        store.leave(line=DEFAULT_LINE, user_id=99, jti="nobody"),
    )
    assert list(left) == [True, False, True, False]
    assert steps == ["leave"]
    assert await store.gate(line=DEFAULT_LINE, user_id=1, jti="j1") is None
    kept = await store.gate(line=DEFAULT_LINE, user_id=2, jti="j2")
    assert kept is not None and kept.state is QueueState.ADMITTED
    # The places freed let the waiting fan in: the line moved on after the leaves.
    moved = await store.gate(line=DEFAULT_LINE, user_id=6, jti="j6")
    assert moved is not None and moved.state is QueueState.ADMITTED
