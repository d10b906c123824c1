"""The per-process mirror of the Redis line: status polls answered without I/O, the
same answers as Redis a moment later, liveness written in batches."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from boxoffice.queue.model import AdmissionRules
from boxoffice.queue.redis_store import RedisQueueStore
from tests.conftest import REDIS_URL
from tests.support import eventually

NOW = 1_800_000_000.0
FAR = 10**10


@pytest.fixture
async def pair(redis_prefix: str) -> AsyncIterator[tuple[RedisQueueStore, RedisQueueStore]]:
    """Two instances' stores on one Redis line; the second answers polls from its mirror."""
    rules = AdmissionRules(
        capacity=0, per_minute=1000, paused=False, waiter_timeout=30.0, admitted_idle=100.0
    )
    writer = RedisQueueStore.from_url(REDIS_URL, defaults=rules, prefix=redis_prefix)
    reader = RedisQueueStore.from_url(REDIS_URL, defaults=rules, prefix=redis_prefix, mirror=True)
    await writer.start()
    await reader.start()
    yield writer, reader
    await reader.close()
    await writer.close()


async def _join(store: RedisQueueStore, user: int, now: float = NOW) -> None:
    await store.join(user_id=user, jti=f"j{user}", now=now, token_expires_at=FAR)


async def test_mirrored_positions_match_redis_after_joins_and_departures(
    pair: tuple[RedisQueueStore, RedisQueueStore],
) -> None:
    writer, reader = pair
    for user in range(1, 21):
        await _join(writer, user)
    for user in (3, 7, 8):
        await writer.leave(user_id=user, jti=f"j{user}", now=NOW)

    async def positions_agree() -> bool:
        for user in set(range(1, 21)) - {3, 7, 8}:
            mirrored = await reader.peek(user_id=user, jti=f"j{user}", now=NOW)
            truth = await writer.touch(user_id=user, jti=f"j{user}", now=NOW)
            if mirrored is None or truth is None or mirrored[0].position != truth[0].position:
                return False
        return True

    await eventually(positions_agree)
    mirror = reader._mirror
    assert mirror is not None
    assert mirror.stats(NOW).waiting == 17


async def test_a_departed_ticket_stops_answering_from_the_mirror(
    pair: tuple[RedisQueueStore, RedisQueueStore],
) -> None:
    writer, reader = pair
    await _join(writer, 1)
    await eventually(lambda: _known(reader, 1))
    await writer.spend(user_id=1, jti="j1", now=NOW)

    async def gone() -> bool:
        return await reader.peek(user_id=1, jti="j1", now=NOW) is None

    await eventually(gone)


async def _known(reader: RedisQueueStore, user: int) -> bool:
    mirror = reader._mirror
    return mirror is not None and mirror.find(user, f"j{user}") is not None


async def test_a_ticket_the_mirror_has_not_seen_yet_is_asked_of_redis(
    pair: tuple[RedisQueueStore, RedisQueueStore],
) -> None:
    writer, reader = pair
    await eventually(lambda: _synced(reader))
    await _join(writer, 1)
    await _join(writer, 2)
    seen = await reader.peek(user_id=2, jti="j2", now=NOW)
    assert seen is not None
    assert seen[0].position == 2


async def _synced(reader: RedisQueueStore) -> bool:
    return reader._mirror is not None and reader._mirror.synced


async def test_polls_answered_by_the_mirror_keep_a_waiter_alive(
    pair: tuple[RedisQueueStore, RedisQueueStore],
) -> None:
    writer, reader = pair
    await _join(writer, 1)  # polls, through the mirror
    await _join(writer, 2)  # falls silent
    await eventually(lambda: _known(reader, 1))
    await eventually(lambda: _known(reader, 2))
    assert await reader.peek(user_id=1, jti="j1", now=NOW + 20) is not None
    await reader._flush()  # what the background flusher does every half second
    stats = await writer.advance(now=NOW + 35)  # the waiter timeout is 30 s
    assert stats.waiting == 1
    assert await writer.touch(user_id=1, jti="j1", now=NOW + 35) is not None
    assert await writer.touch(user_id=2, jti="j2", now=NOW + 35) is None
