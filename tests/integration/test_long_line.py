"""A long line in a Redis of the test's own: an instance's mirror loads it without a
Redis call over the bound, where reading it in one call (as the mirror once did)
holds Redis, and every other client, for most of a second."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from redis import Redis

from boxoffice.queue.model import ADMIT_MOST, DEFAULT_LINE, LineRules, draw_rank
from boxoffice.queue.redis_store import RedisQueueStore
from boxoffice.queue.scripts import LineKeys, _source
from tests.faults.services import RedisServer
from tests.support import RedisLineClock, eventually

LINE = DEFAULT_LINE
PREFIX = "long:"
WAITING, ADMITTED = 200_000, 100_000
ENTRANTS, JOINS_PER_CALL = 100_000, 500
FAR = 10**10
# The bound a call over a line must keep, whatever the line's length (SLOWLOG's unit
# is the microsecond).
BOUND_US = 10_000
RULES = LineRules(
    capacity=ADMITTED,
    per_minute=1000,
    paused=False,
    waiter_timeout=3600.0,
    admitted_idle=3600.0,
)
# The whole line in one call: how the mirror loaded a line before it paged.
ONE_CALL_SNAPSHOT = """
local last = redis.call('XREVRANGE', K_EVENTS, '+', '-', 'COUNT', 1)
local function tickets(users)
  local out = {}
  for _, user in ipairs(users) do
    local packed = redis.call('HGET', K_TICKETS, user)
    if packed then out[#out + 1] = {user, unpack_ticket(packed).jti} end
  end
  return out
end
return {'OK', NOW, #tickets(redis.call('ZRANGE', K_WAITING, 0, -1)),
        #tickets(redis.call('ZRANGE', K_ASEEN, 0, -1))}
"""

# The pre-queue's order read whole, as the opening's step once recorded it.
ONE_CALL_DRAW = """
local order = redis.call('ZRANGEBYSCORE', K_WAITING, '-inf', '(1')
return {'OK', NOW, #table.concat(order, ',')}
"""


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


def _fill(client: Redis, keys: LineKeys) -> None:
    """WAITING fans waiting and ADMITTED admitted, written in bulk."""
    now, exp = int(time.time()), int(time.time()) + 86_400
    chunk = 10_000
    for first in range(1, WAITING + ADMITTED + 1, chunk):
        users = range(first, min(first + chunk, WAITING + ADMITTED + 1))
        client.hset(keys.tickets, mapping={u: f"j{u}|{u}|{now}|{exp}|" for u in users})
        waiting = [u for u in users if u <= WAITING]
        admitted = [u for u in users if u > WAITING]
        if waiting:
            client.zadd(keys.waiting, {str(u): float(u) for u in waiting})
            client.zadd(keys.waiters_seen, {str(u): float(now) for u in waiting})
        if admitted:
            client.zadd(keys.admitted_seen, {str(u): float(now) for u in admitted})


def _slow_calls(client: Redis) -> list[float]:
    """Milliseconds of each call SLOWLOG kept (those over the bound) since its reset."""
    return sorted(entry["duration"] / 1000 for entry in client.slowlog_get(1024))


def _script_calls(client: Redis) -> int:
    stats = client.info("commandstats")
    return sum(
        int(stats.get(f"cmdstat_{name}", {}).get("calls", 0)) for name in ("evalsha", "eval")
    )


def _within_the_bound(slow: list[float], calls: int) -> bool:
    """SLOWLOG times a call by the wall clock, so on a busy 2-core machine, where Redis
    loses the CPU mid-call, a few come out over the bound whatever their work: allow one
    in twenty, none over ten times the bound (the control's one call: seconds)."""
    return len(slow) <= max(2, calls // 20) and all(ms < 10 * BOUND_US / 1000 for ms in slow)


async def test_a_long_line_loads_into_the_mirror_with_no_call_over_the_bound(
    redis_server: RedisServer,
) -> None:
    client = Redis.from_url(redis_server.url, decode_responses=True)
    keys = LineKeys.of(PREFIX, LINE)
    writer = RedisQueueStore.from_url(redis_server.url, prefix=PREFIX)
    await writer.seed(LINE, RULES)
    _fill(client, keys)
    client.config_set("slowlog-log-slower-than", BOUND_US)

    # The control: the line read in one call, as the mirror once loaded it, is one
    # long stall.
    one_call = client.register_script(_source("prelude") + ONE_CALL_SNAPSHOT)
    client.slowlog_reset()
    assert one_call(keys=keys.all(), args=[60])[2:] == [WAITING, ADMITTED]
    stall = _slow_calls(client)
    assert stall and stall[-1] > 10 * BOUND_US / 1000, stall

    client.slowlog_reset()
    calls_before = _script_calls(client)
    reader = RedisQueueStore.from_url(redis_server.url, prefix=PREFIX, mirror=True)
    await reader.start()
    try:
        await reader.peek(line=LINE, user_id=1, jti="j1")  # the mirror follows the line
        assert reader._mirror is not None
        mirror = reader._mirror
        await eventually(lambda: mirror.synced(LINE), within=120)
        slow, calls = _slow_calls(client), _script_calls(client) - calls_before
        assert _within_the_bound(slow, calls), (
            f"{len(slow)} of {calls} calls over {BOUND_US // 1000} ms: {slow}; "
            f"one call: {stall[-1]:.0f} ms"
        )
        stats = mirror.stats(LINE, time.time())
        assert (stats.waiting, stats.admitted) == (WAITING, ADMITTED)
        for user in (1, 2, WAITING // 2, WAITING):
            found = mirror.find(LINE, user, f"j{user}")
            assert found is not None and found[1] == user - 1, (user, found)
        found = mirror.find(LINE, WAITING + 1, f"j{WAITING + 1}")
        assert found is not None and found[0].admitted
    finally:
        await reader.close()
        await writer.close()
        client.close()


async def test_a_long_pre_queue_opens_and_its_draw_is_read_with_no_call_over_the_bound(
    redis_server: RedisServer,
) -> None:
    client = Redis.from_url(redis_server.url, decode_responses=True)
    store = RedisQueueStore.from_url(redis_server.url, prefix=PREFIX)
    keys = LineKeys.of(PREFIX, LINE)
    opens_at = time.time() + 3600
    await store.seed(LINE, replace(RULES, opens_at=opens_at, seed="ab" * 16))
    try:
        for first in range(1, ENTRANTS + 1, JOINS_PER_CALL):
            users = range(first, min(first + JOINS_PER_CALL, ENTRANTS + 1))
            await asyncio.gather(  # joins in one turn of the loop share one call
                *(
                    store.join(line=LINE, user_id=u, jti=f"j{u}", token_expires_at=FAR)
                    for u in users
                )
            )
        assert client.zcard(keys.entrants) == ENTRANTS
        client.config_set("slowlog-log-slower-than", BOUND_US)
        # The control: the pre-queue's order read in the opening's step, as it once was.
        one_call = client.register_script(_source("prelude") + ONE_CALL_DRAW)
        client.slowlog_reset()
        assert one_call(keys=keys.all(), args=[60])[2] > 0
        stall = _slow_calls(client)
        assert stall and stall[-1] > BOUND_US / 1000, stall
        client.slowlog_reset()
        calls_before = _script_calls(client)
        RedisLineClock(redis_server.url, PREFIX)(opens_at + 1)  # the opening has come
        stats = await store.advance(line=LINE)  # the first step after it records the draw
        drawn = await store.drawn(LINE)
        slow, calls = _slow_calls(client), _script_calls(client) - calls_before
        assert _within_the_bound(slow, calls), f"{len(slow)} of {calls} calls: {slow}"
        assert drawn is not None and len(drawn.order) == ENTRANTS
        ranks = [draw_rank("ab" * 16, user) for user in drawn.order]
        assert ranks == sorted(ranks)
        assert stats.admitted == ADMIT_MOST  # the rest at the steps that follow
        await store.forget_draw(LINE)
        assert await store.drawn(LINE) is None and not client.exists(keys.entrants)
    finally:
        await store.close()
        client.close()
