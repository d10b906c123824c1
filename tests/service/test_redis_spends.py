"""A payment's end of the visit when Redis fails at that moment: the paid answer
stands, the end is retried in the background, and a retry never ends the visit its
fan has come back to since (told the payment went through, the fan joined again and
was answered with the same ticket, still live)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from boxoffice.queue.model import DEFAULT_LINE, LineRules, QueueState
from boxoffice.queue.redis_store import LeaveItem, RedisQueueStore
from tests.conftest import REDIS_URL

RULES = LineRules(capacity=1, per_minute=60, paused=False, waiter_timeout=30.0, admitted_idle=100.0)


@pytest.fixture
async def store(redis_prefix: str) -> AsyncIterator[RedisQueueStore]:
    """Not started: each test runs the background flush itself, when it wants it."""
    s = RedisQueueStore.from_url(REDIS_URL, prefix=redis_prefix)
    await s.seed(DEFAULT_LINE, RULES)
    expires = int(time.time()) + 600
    for user in (1, 2):  # 1 let in, 2 waiting
        await s.join(line=DEFAULT_LINE, user_id=user, jti=f"j{user}", token_expires_at=expires)
    yield s
    await s.close()


def _first_leave_fails(store: RedisQueueStore, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    sent: list[str] = []
    original = store._send_leaves

    async def send(line: str, batch: list[LeaveItem]) -> list[bool]:
        sent.append("failed" if not sent else "sent")
        if sent[-1] == "failed":
            raise RedisConnectionError("Redis went away")
        return await original(line, batch)

    monkeypatch.setattr(store, "_send_leaves", send)
    return sent


async def _state(store: RedisQueueStore, user: int) -> QueueState | None:
    found = await store.gate(line=DEFAULT_LINE, user_id=user, jti=f"j{user}")
    return None if found is None else found.state


async def _paid(store: RedisQueueStore) -> None:
    """Fan 1 pays: gated, then its visit spent while Redis fails."""
    found = await store.gate(line=DEFAULT_LINE, user_id=1, jti="j1")
    assert found is not None and found.state is QueueState.ADMITTED
    await store.spend(line=DEFAULT_LINE, user_id=1, jti="j1", gated_at=found.at)


async def test_a_spend_redis_missed_is_retried_in_the_background(
    store: RedisQueueStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent = _first_leave_fails(store, monkeypatch)
    await _paid(store)  # does not raise: the payment's answer stands
    assert sent == ["failed"]
    assert await _state(store, 2) is QueueState.WAITING
    await store._flush()
    assert sent == ["failed", "sent"]
    assert await _state(store, 1) is None
    assert await _state(store, 2) is QueueState.ADMITTED  # the place freed went on


async def test_a_retried_spend_leaves_the_visit_its_fan_came_back_to(
    store: RedisQueueStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent = _first_leave_fails(store, monkeypatch)
    await _paid(store)
    await asyncio.sleep(0.01)  # the fan's next request comes later on Redis's clock
    back = await store.join(
        line=DEFAULT_LINE, user_id=1, jti="j1-next", token_expires_at=int(time.time()) + 600
    )
    assert back is not None and back.ticket.jti == "j1"  # the same ticket, still live
    await store._flush()
    assert sent == ["failed", "sent"]
    assert await _state(store, 1) is QueueState.ADMITTED
    assert await _state(store, 2) is QueueState.WAITING
