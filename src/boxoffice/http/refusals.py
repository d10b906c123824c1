"""Requests refused to keep the line fair, by reason, as the operator watches them.

``/metrics`` counts each instance's (``boxoffice_refused_total{reason}``); the control
room wants the whole site's, over time. Each instance adds its counts since the last
tick to one Redis hash (one ``HINCRBY`` per reason a tick, never one per refusal: a
flood is refused thousands of times a second), so any instance reads every instance's
totals. In the embedded shape, the one process's counts are the site's.
"""

from __future__ import annotations

import logging
from collections import Counter

from redis.exceptions import RedisError

from boxoffice.queue.redis_client import RedisClient

log = logging.getLogger("boxoffice")


class Refusals:
    def __init__(self, redis: RedisClient | None, *, key: str) -> None:
        self._redis = redis
        self._key = key
        self._unsent: Counter[str] = Counter()
        self._here: Counter[str] = Counter()

    def count(self, reason: str) -> None:
        self._here[reason] += 1
        if self._redis is not None:
            self._unsent[reason] += 1

    async def flush(self) -> None:
        """Add this instance's counts since the last flush to the shared totals; counts
        Redis did not take are kept for the next one."""
        if self._redis is None or not self._unsent:
            return
        unsent, self._unsent = self._unsent, Counter()
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for reason, n in unsent.items():
                    pipe.hincrby(self._key, reason, n)
                await pipe.execute()
        except RedisError as exc:
            self._unsent.update(unsent)
            log.warning("could not add refusal counts to Redis (%r); kept for later", exc)

    async def totals(self) -> dict[str, int]:
        """Every refusal since the store was started, by reason: every instance's with
        Redis (this one's up to now), this process's without."""
        if self._redis is None:
            return dict(self._here)
        await self.flush()
        raw = await self._redis.hgetall(self._key)
        return {_text(reason): int(n) for reason, n in raw.items()}


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
