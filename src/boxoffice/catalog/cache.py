"""A short-lived per-process cache of encoded catalog reads: seat maps and schedule
listings.

When a sale opens every admitted fan lists the same concert's schedules and reads
the same few seat maps over and over. Serving them from memory for a fraction of a
second turns thousands of identical queries (a listing counts every seat of every
schedule) into one, at the price of an answer that may lag by that fraction. Who
gets a seat is still decided by the database at hold time, never by this cache.

A write made through this instance (a hold, a release, a sale, a refund) forgets
what it cached of that concert at once, so a fan's next read from here shows the
fan's own change; other instances' answers may lag by the cache's lifetime.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from boxoffice.bounded import Bounded

# (concert id, what is cached: a listing or a seat map, and its parameters)
Key = tuple[int, str, object, object]


class CatalogCache:
    def __init__(self, ttl_seconds: float, *, max_entries: int = 10_000) -> None:
        self._ttl = ttl_seconds
        self._entries: Bounded[Key, tuple[float, int, bytes]] = Bounded(max_entries)
        self._generations: dict[int, int] = {}
        self._filling: dict[tuple[Key, int], asyncio.Future[bytes]] = {}

    @property
    def enabled(self) -> bool:
        return self._ttl > 0

    def forget(self, concert_id: int) -> None:
        """This instance changed something of the concert: what it cached is stale."""
        self._generations[concert_id] = self._generations.get(concert_id, 0) + 1

    def get(self, key: Key) -> bytes | None:
        found = self._entries.get(key)
        if found is None:
            return None
        expires, generation, body = found
        if expires <= time.monotonic() or generation != self._generations.get(key[0], 0):
            return None
        return body

    async def get_or_fill(self, key: Key, fill: Callable[[], Awaitable[bytes]]) -> bytes:
        """The cached body, or one fill shared by every request that misses together
        (without that, all requests in flight at expiry would query at once). A fill
        begun before a write of this instance is not kept, nor shared after it."""
        body = self.get(key)
        if body is not None:
            return body
        if not self.enabled:
            return await fill()
        generation = self._generations.get(key[0], 0)
        pending = self._filling.get((key, generation))
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._filling[(key, generation)] = future
        try:
            body = await fill()
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it, nobody else must
            raise
        else:
            future.set_result(body)
            if generation == self._generations.get(key[0], 0):
                self._entries.put(key, (time.monotonic() + self._ttl, generation, body))
            return body
        finally:
            del self._filling[(key, generation)]
