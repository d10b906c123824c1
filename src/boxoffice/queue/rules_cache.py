"""The shared rules of each Redis line as this instance last read them.

Only what a fan is told (estimated wait, poll interval, expiry, pre-queue and sold-out
states answered from the mirror) comes from here; admission reads the rules inside
Redis, so no request waits for this read but a line's very first.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from boxoffice.queue.model import LineRules

log = logging.getLogger("boxoffice.queue")

RULES_REFRESH_SECONDS = 1.0


@dataclass(slots=True)
class _Cached:
    rules: LineRules | None = None
    read_at: float = float("-inf")
    reading: asyncio.Future[LineRules] | None = None
    changes: int = 0


class RulesCache:
    """Re-reads a line's rules in the background once they are a second old, by one
    read however many requests want them, so a change made through any instance
    reaches every instance about a second later."""

    def __init__(self, read: Callable[[str], Awaitable[LineRules]]) -> None:
        self._read = read
        self._lines: dict[str, _Cached] = {}

    async def get(self, line: str) -> LineRules:
        cached = self._lines.setdefault(line, _Cached())
        if cached.rules is not None and time.monotonic() - cached.read_at < RULES_REFRESH_SECONDS:
            return cached.rules
        if cached.reading is None:
            cached.reading = asyncio.ensure_future(self._refresh(line, cached))
            cached.reading.add_done_callback(lambda done: self._done(cached, done))
        if cached.rules is None:
            return await asyncio.shield(cached.reading)
        return cached.rules

    def put(self, line: str, rules: LineRules) -> None:
        """A change made through this instance: newer than any read still out."""
        cached = self._lines.setdefault(line, _Cached())
        cached.changes += 1
        cached.rules, cached.read_at = rules, time.monotonic()

    def forget(self, line: str) -> None:
        self._lines.pop(line, None)

    async def _refresh(self, line: str, cached: _Cached) -> LineRules:
        changes = cached.changes
        rules = await self._read(line)
        if changes != cached.changes and cached.rules is not None:
            return cached.rules  # set here while the read was out: that is newer
        cached.rules, cached.read_at = rules, time.monotonic()
        return rules

    @staticmethod
    def _done(cached: _Cached, reading: asyncio.Future[LineRules]) -> None:
        cached.reading = None
        if not reading.cancelled() and (error := reading.exception()) is not None:
            log.warning("could not read the waiting-room rules; keeping the last: %r", error)
