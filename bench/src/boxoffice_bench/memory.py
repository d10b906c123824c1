"""Memory with a long line: Redis bytes per waiting fan, and the app's RSS."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, replace

from redis.asyncio import Redis

from boxoffice.queue.model import DEFAULT_LINE
from boxoffice.queue.redis_store import RedisQueueStore
from boxoffice_bench.server import BenchServer


@dataclass(frozen=True)
class MemoryResult:
    fans: int
    redis_bytes_per_fan: float
    rss_before: int
    rss_after: int


async def _fill(server: BenchServer, fans: int) -> float:
    redis = Redis.from_url(server.redis_url)
    before = (await redis.info("memory"))["used_memory"]
    # The server has seeded its default line by now (its tick does, every second).
    store = RedisQueueStore(redis, prefix=server.prefix)
    await store.configure(DEFAULT_LINE, replace(await store.rules(DEFAULT_LINE), paused=True))
    now = time.time()
    for start in range(0, fans, 50):
        await asyncio.gather(
            *(
                store.join(
                    line=DEFAULT_LINE,
                    user_id=10_000_000 + i,
                    jti=f"bench-{i:012d}",
                    token_expires_at=int(now) + 43_200,
                )
                for i in range(start, min(fans, start + 50))
            )
        )
    after = (await redis.info("memory"))["used_memory"]
    await redis.aclose()
    return float(after - before) / fans


def run_memory(server: BenchServer, *, fans: int) -> MemoryResult:
    print(f"memory: {fans} fans joining the line")
    rss_before = server.rss_bytes()
    per_fan = asyncio.run(_fill(server, fans))
    time.sleep(3)  # let the server's mirror take in the whole line
    rss_after = server.rss_bytes()
    print(
        f"  Redis: {per_fan:.0f} bytes per waiting fan; app RSS {rss_before / 2**20:.0f} MiB "
        f"-> {rss_after / 2**20:.0f} MiB with {fans} fans in line"
    )
    return MemoryResult(fans, per_fan, rss_before, rss_after)
