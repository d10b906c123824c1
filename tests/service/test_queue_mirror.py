"""The per-process mirror of the Redis lines: status polls answered without I/O, the
same answers as Redis a moment later, liveness written in batches, and a line that
Redis lost or started afresh loaded again on its own."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest
from redis import Redis

from boxoffice.queue import mirror as mirror_module
from boxoffice.queue import redis_store as redis_store_module
from boxoffice.queue.model import DEFAULT_LINE, LineRules
from boxoffice.queue.redis_store import RedisQueueStore
from boxoffice.queue.scripts import LineKeys
from tests.conftest import REDIS_URL
from tests.support import RedisLineClock, eventually

NOW = 1_800_000_000.0
FAR = 10**10
LINE = DEFAULT_LINE
RULES = LineRules(
    capacity=0, per_minute=1000, paused=False, waiter_timeout=30.0, admitted_idle=100.0
)

Pair = tuple[RedisQueueStore, RedisQueueStore]


@pytest.fixture
async def pair(redis_prefix: str) -> AsyncIterator[Pair]:
    """Two instances' stores on one Redis line; the second answers polls from its mirror."""
    writer = RedisQueueStore.from_url(REDIS_URL, prefix=redis_prefix)
    reader = RedisQueueStore.from_url(REDIS_URL, prefix=redis_prefix, mirror=True)
    RedisLineClock(REDIS_URL, redis_prefix)(NOW)
    await writer.seed(LINE, RULES)
    await writer.start()
    await reader.start()
    yield writer, reader
    await reader.close()
    await writer.close()


async def _join(store: RedisQueueStore, user: int, jti: str | None = None) -> None:
    await store.join(line=LINE, user_id=user, jti=jti or f"j{user}", token_expires_at=FAR)


def _known(reader: RedisQueueStore, user: int, jti: str | None = None) -> bool:
    mirror = reader._mirror
    return mirror is not None and mirror.find(LINE, user, jti or f"j{user}") is not None


async def _peeked(reader: RedisQueueStore, user: int) -> None:
    await reader.peek(line=LINE, user_id=user, jti=f"j{user}")  # the mirror follows the line


async def test_mirrored_positions_match_redis_after_joins_and_departures(pair: Pair) -> None:
    writer, reader = pair
    await _peeked(reader, 0)
    for user in range(1, 21):
        await _join(writer, user)
    for user in (3, 7, 8):
        await writer.leave(line=LINE, user_id=user, jti=f"j{user}")

    async def positions_agree() -> bool:
        for user in set(range(1, 21)) - {3, 7, 8}:
            if not _known(reader, user):
                return False
            mirrored = await reader.peek(line=LINE, user_id=user, jti=f"j{user}")
            truth = await writer.touch(line=LINE, user_id=user, jti=f"j{user}")
            if mirrored is None or truth is None:
                return False
            if mirrored.ticket.position != truth.ticket.position:
                return False
        return True

    await eventually(positions_agree)
    assert reader._mirror is not None
    assert reader._mirror.stats(LINE, NOW).waiting == 17


async def test_a_departed_ticket_stops_answering_from_the_mirror(pair: Pair) -> None:
    writer, reader = pair
    await _peeked(reader, 0)
    await _join(writer, 1)
    await eventually(lambda: _known(reader, 1))
    assert await writer.leave(line=LINE, user_id=1, jti="j1")

    async def gone() -> bool:
        return await reader.peek(line=LINE, user_id=1, jti="j1") is None

    await eventually(gone)


async def test_a_ticket_this_instance_took_out_is_gone_from_its_own_mirror_at_once(
    pair: Pair,
) -> None:
    writer, reader = pair
    await _peeked(reader, 0)
    for user in (1, 2):
        await _join(writer, user)
    await eventually(lambda: _known(reader, 1) and _known(reader, 2))
    await _stop_reading(reader)  # from here on, no event reaches the mirror
    assert await reader.leave(line=LINE, user_id=1, jti="j1")
    assert await writer.leave(line=LINE, user_id=2, jti="j2")
    assert await reader.peek(line=LINE, user_id=1, jti="j1") is None
    # The control: a departure through another instance is known only from the
    # stream, so this mirror still answers for it.
    assert await reader.peek(line=LINE, user_id=2, jti="j2") is not None


async def _stop_reading(reader: RedisQueueStore) -> None:
    mirror = reader._mirror
    assert mirror is not None and mirror._readers
    for one in mirror._readers.values():
        assert one.task is not None
        one.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await one.task
        one.task = None


async def test_a_ticket_the_mirror_has_not_seen_yet_is_asked_of_redis(pair: Pair) -> None:
    writer, reader = pair
    await _peeked(reader, 0)
    await _join(writer, 1)
    await _join(writer, 2)
    seen = await reader.peek(line=LINE, user_id=2, jti="j2")
    assert seen is not None
    assert seen.ticket.position == 2


async def test_polls_answered_by_the_mirror_keep_a_waiter_alive(
    pair: Pair, redis_prefix: str
) -> None:
    writer, reader = pair
    clock = RedisLineClock(REDIS_URL, redis_prefix)
    await _peeked(reader, 0)
    await _join(writer, 1)  # polls, through the mirror
    await _join(writer, 2)  # falls silent
    await eventually(lambda: _known(reader, 1) and _known(reader, 2))
    clock(NOW + 20)
    assert await reader.peek(line=LINE, user_id=1, jti="j1") is not None
    await reader._flush()  # what the background flusher does every half second
    clock(NOW + 35)
    stats = await writer.advance(line=LINE)  # the waiter timeout is 30 s
    assert stats.waiting == 1
    assert await writer.touch(line=LINE, user_id=1, jti="j1") is not None
    assert await writer.touch(line=LINE, user_id=2, jti="j2") is None


async def test_a_line_redis_lost_is_loaded_again_and_old_tickets_stop_answering(
    pair: Pair, redis_prefix: str
) -> None:
    writer, reader = pair
    await _peeked(reader, 0)
    await _join(writer, 1)
    await eventually(lambda: _known(reader, 1))
    client = Redis.from_url(REDIS_URL)
    try:
        client.delete(*LineKeys.of(redis_prefix, LINE).all())  # a restart that kept nothing
    finally:
        client.close()
    await writer.seed(LINE, RULES)
    await _join(writer, 2, jti="fresh")
    await eventually(lambda: _known(reader, 2, "fresh") and not _known(reader, 1))
    assert await reader.peek(line=LINE, user_id=1, jti="j1") is None


async def test_a_sold_out_lines_tickets_lapse_in_the_mirror_when_redis_drops_them(
    pair: Pair, redis_prefix: str
) -> None:
    writer, reader = pair
    await _peeked(reader, 0)
    await _join(writer, 1)
    await eventually(lambda: _known(reader, 1))
    await reader.set_supply(LINE, seats_left=0, sold_out=True)
    RedisLineClock(REDIS_URL, redis_prefix)(NOW + RULES.waiter_timeout + 1)
    await reader.drawn(LINE)  # a script call: the reader hears the line's clock
    assert _known(reader, 1)  # nothing has advanced the line yet
    assert await reader.peek(line=LINE, user_id=1, jti="j1") is None
    assert await writer.touch(line=LINE, user_id=1, jti="j1") is None


async def test_a_line_loaded_a_page_at_a_time_while_it_changes_ends_as_redis_has_it(
    pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fans join, leave and are admitted while the mirror reads the line in pages of
    seven: replaying the stream over the pages leaves it exactly as Redis is."""
    writer, reader = pair
    monkeypatch.setattr(mirror_module, "LOAD_PAGE", 7)
    live = list(range(1, 301))
    for user in live:
        await _join(writer, user)
    await writer.configure(LINE, replace(RULES, capacity=100))
    await writer.advance(line=LINE)
    changes_while_loading = 0
    stop = asyncio.Event()

    async def churn() -> None:
        nonlocal changes_while_loading
        rng, user = random.Random(7), 301
        while not stop.is_set():
            await _join(writer, user)
            live.append(user)
            leaver = live.pop(rng.randrange(len(live)))
            await writer.leave(line=LINE, user_id=leaver, jti=f"j{leaver}")
            await writer.configure(LINE, replace(RULES, capacity=100 + (user - 300) // 2))
            await writer.advance(line=LINE)
            user += 1
            changes_while_loading += not _synced(reader)

    churning = asyncio.create_task(churn())
    await _peeked(reader, 0)  # the reader follows the line from here: its load starts
    await eventually(lambda: _synced(reader))
    stop.set()
    await churning
    assert changes_while_loading > 0, "the line never changed during the load"

    async def agrees() -> bool:
        truth = await writer.advance(line=LINE)
        assert reader._mirror is not None
        mirrored = reader._mirror.stats(LINE, NOW)
        if (mirrored.waiting, mirrored.admitted, mirrored.admitted_last_minute) != (
            truth.waiting,
            truth.admitted,
            truth.admitted_last_minute,
        ):
            return False
        for user in live:
            seen = await reader.peek(line=LINE, user_id=user, jti=f"j{user}")
            real = await writer.touch(line=LINE, user_id=user, jti=f"j{user}")
            if not _known(reader, user) or seen is None or real is None:
                return False
            if (seen.ticket.state, seen.ticket.position) != (
                real.ticket.state,
                real.ticket.position,
            ):
                return False
        return True

    await eventually(agrees)


def _synced(reader: RedisQueueStore) -> bool:
    return reader._mirror is not None and reader._mirror.synced(LINE)


async def test_on_one_redis_every_line_is_read_by_one_reader(pair: Pair) -> None:
    """One blocked connection and one XREAD for any number of lines; only a cluster,
    where one command's keys must share a slot, reads each line on its own."""
    writer, reader = pair
    await writer.seed("other", RULES)
    await _join(writer, 1)
    await writer.join(line="other", user_id=2, jti="j2", token_expires_at=FAR)
    await _peeked(reader, 1)
    await reader.peek(line="other", user_id=2, jti="j2")
    mirror = reader._mirror
    assert mirror is not None
    await eventually(lambda: _known(reader, 1) and mirror.find("other", 2, "j2") is not None)
    assert len(mirror._readers) == 1


async def test_batched_liveness_is_written_in_calls_of_at_most_seen_most(
    pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    """However many polls the mirror answered in one flush's time, each seen.lua call
    carries at most SEEN_MOST of them: a call inside Redis holds every other client."""
    writer, reader = pair
    monkeypatch.setattr(redis_store_module, "SEEN_MOST", 2)
    await _peeked(reader, 0)
    for user in range(1, 6):
        await _join(writer, user)
    await eventually(lambda: all(_known(reader, user) for user in range(1, 6)))
    calls: list[int] = []
    run = reader._run

    async def counted(step: str, line: str, *args: str | int | float) -> Any:
        if step == "seen":
            calls.append(len(args) // 3)
        return await run(step, line, *args)

    monkeypatch.setattr(reader, "_run", counted)
    await reader._flush()  # whatever the background flush left
    calls.clear()
    for user in range(1, 6):
        await _peeked(reader, user)
    await reader._flush()
    assert calls == [2, 2, 1]
