"""A Redis line's steps asked by many requests at one instant go as one script call,
each request answered as if it had gone alone."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from boxoffice.queue.model import DEFAULT_LINE, LineRules, QueueState
from boxoffice.queue.redis_store import RedisQueueStore
from tests.conftest import REDIS_URL

RULES = LineRules(
    capacity=3, per_minute=600, paused=False, waiter_timeout=30.0, admitted_idle=100.0
)


@pytest.fixture
async def store(redis_prefix: str) -> AsyncIterator[RedisQueueStore]:
    s = RedisQueueStore.from_url(REDIS_URL, prefix=redis_prefix)
    await s.seed(DEFAULT_LINE, RULES)
    await s.start()
    yield s
    await s.close()


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
    for user in range(1, 5):  # three let in, the fourth waiting
        await store.join(line=DEFAULT_LINE, user_id=user, jti=f"j{user}", token_expires_at=expires)
    waiting = await store.gate(line=DEFAULT_LINE, user_id=4, jti="j4")
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
    moved = await store.gate(line=DEFAULT_LINE, user_id=4, jti="j4")
    assert moved is not None and moved.state is QueueState.ADMITTED
