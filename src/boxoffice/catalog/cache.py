"""A short-lived per-process cache of encoded catalog reads: seat maps and schedule
listings.

When a sale opens every admitted fan lists the same concert's schedules and reads
the same few seat maps over and over. Serving them from memory for a fraction of a
second turns thousands of identical queries (a listing counts every seat of every
schedule) into one, at the price of an answer that may lag by that fraction. Who
gets a seat is still decided by the database at hold time, never by this cache.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable


class CatalogCache:
    def __init__(self, ttl_seconds: float, *, max_entries: int = 10_000) -> None:
        self._ttl = ttl_seconds
        self._max = max_entries
        self._entries: dict[Hashable, tuple[float, bytes]] = {}
        self._filling: dict[Hashable, asyncio.Future[bytes]] = {}

    @property
    def enabled(self) -> bool:
        return self._ttl > 0

    def get(self, key: Hashable) -> bytes | None:
        found = self._entries.get(key)
        if found is None or found[0] <= time.monotonic():
            return None
        return found[1]

    async def get_or_fill(self, key: Hashable, fill: Callable[[], Awaitable[bytes]]) -> bytes:
        """The cached body, or one fill shared by every request that misses together
        (without that, all requests in flight at expiry would query at once)."""
        body = self.get(key)
        if body is not None:
            return body
        if not self.enabled:
            return await fill()
        pending = self._filling.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._filling[key] = future
        try:
            body = await fill()
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it, nobody else must
            raise
        else:
            future.set_result(body)
            self.put(key, body)
            return body
        finally:
            del self._filling[key]

    def put(self, key: Hashable, body: bytes) -> None:
        if not self.enabled:
            return
        if len(self._entries) >= self._max:
            self._entries.clear()
        self._entries[key] = (time.monotonic() + self._ttl, body)
