"""The edge limits: how many sign-ups, sign-ins, joins and wrong admin tokens one
address or one account may send before it is answered 429 ``rate_limited`` with
``Retry-After``, and how fast one queue token may poll.

Each limit is a setting of "N/window" tiers ("30/minute;300/hour", the ``limits``
library's notation) counted in moving windows, so a client that keeps going waits
longer at each tier. The counts live in Redis when the waiting room does (every
instance counts the same client together), in this process in the embedded shape.
``RATE_LIMITS=false`` turns every one off. An address is the client's as
``boxoffice.http.client_address`` finds it, an IPv6 one counted by its /64
(``address_key``).

The status poll is the exception: it is the busiest route, answered from memory
without I/O, and a Redis round trip per poll would cost it more than it answers. Its
count is this instance's own (``PollThrottle``). A load balancer spreads a fan's polls
over the instances, so each one sees at most all of them and at least its share: a
token that polls many times faster than it is told to is caught wherever it lands.
It is a throttle, not a decision about who gets a seat, and a count lost with an
instance costs nothing.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections.abc import Callable, Mapping
from typing import Any

from limits import RateLimitItem, parse, parse_many
from limits.aio.storage import MemoryStorage, RedisClusterStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter

from boxoffice.config import Settings
from boxoffice.errors import RateLimited
from boxoffice.queue.redis_client import RedisAddress, cluster_options, redis_client

# The limits by name (what ``EdgeLimits.hit`` is called with, and the ``reason`` of
# ``boxoffice_refused_total``) and the setting each one reads.
LIMIT_SETTINGS: Mapping[str, str] = {
    "signup_address": "signups_per_address",
    "signin_address": "signins_per_address",
    "join_address": "joins_per_address",
    "join_account": "joins_per_account",
    "admin_token": "admin_failures_per_address",
    "signin_failed_account_address": "failed_signins_per_account_and_address",
    "signin_failed_account": "failed_signins_per_account",
    "signin_failed_address": "failed_signins_per_address",
}
# Where the address is among each per-address limit's identifiers (see address_key).
ADDRESS_AT: Mapping[str, int] = {
    "signup_address": 0,
    "signin_address": 0,
    "join_address": 0,
    "admin_token": 0,
    "signin_failed_address": 0,
    "signin_failed_account_address": 1,
}
POLL_TOO_FAST = "poll_too_fast"
# Tokens the poll throttle remembers at most; past it the window starts again early.
# A token is a signed join, so this many polling at once is already a flood of joins.
MAX_TRACKED_TOKENS = 1_000_000


def address_key(host: str) -> str:
    """What a per-address limit counts an address under: an IPv4 address as it is, an
    IPv6 one by its /64. A subscriber line or a phone is given a whole /64 (and picks
    new addresses in it at will), so counting each IPv6 address apart would let one
    client dodge every per-address limit."""
    if ":" not in host:
        return host
    try:
        address = ipaddress.IPv6Address(host)
    except ValueError:
        return host
    if address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(ipaddress.IPv6Network((address, 64), strict=False))


def limits_storage(settings: Settings) -> Storage:
    """Where edge counts are kept: Redis with the waiting room, else this process."""
    if not settings.uses_redis:
        return MemoryStorage()
    if settings.redis_cluster:
        return _cluster_storage(settings)
    # The waiting room's kind of client: a burst waits its turn for a connection (up to
    # the timeout, then 503 busy), where redis-py's plain pool fails at once past its
    # size, and a burst of sign-ups is exactly what these limits see; with sentinels it
    # follows the primary. (The library's own redis+sentinel:// storage would build a
    # plain pool, and read counts from a replica, which lags.) RESP2, which the
    # library's replies are parsed as.
    client = redis_client(
        RedisAddress.of(settings),
        pool_size=settings.redis_pool_size,
        timeout_seconds=settings.redis_timeout_ms / 1000,
        resp3=False,
    )
    # The library types its options as scalars, but hands connection_pool to redis-py;
    # with a pool given, the URI's address is not used.
    options: dict[str, Any] = {"connection_pool": client.connection_pool}
    return RedisStorage(
        "async+redis://",
        implementation="redispy",
        key_prefix=f"{settings.redis_prefix}limits",
        **options,
    )


def _cluster_storage(settings: Settings) -> Storage:
    """On a Redis Cluster the library builds its client itself (it takes no client
    from outside), with the waiting room's bounded options. Each count is one key, so
    a limit's script runs whole on the master of that key."""
    assert settings.redis_url
    options = cluster_options(
        settings.redis_url,
        pool_size=settings.redis_pool_size,
        timeout_seconds=settings.redis_timeout_ms / 1000,
        resp3=False,
    )
    return RedisClusterStorage(
        f"async+redis+cluster://{options['host']}:{options['port']}",
        implementation="redispy",
        key_prefix=f"{settings.redis_prefix}limits",
        **options,
    )


class EdgeLimits:
    """The named limits of ``LIMIT_SETTINGS``, counted per identifiers (an address, an
    account) in one storage."""

    def __init__(
        self,
        storage: Storage,
        tiers: Mapping[str, str],
        *,
        polls: PollThrottle,
        on: bool = True,
    ) -> None:
        self._limiter = MovingWindowRateLimiter(storage)
        self._tiers: dict[str, list[RateLimitItem]] = {
            name: parse_many(value) for name, value in tiers.items()
        }
        self.polls = polls
        self.on = on

    @classmethod
    def from_settings(cls, settings: Settings, storage: Storage | None = None) -> EdgeLimits:
        tiers = {name: getattr(settings, field) for name, field in LIMIT_SETTINGS.items()}
        return cls(
            storage or limits_storage(settings),
            tiers,
            polls=PollThrottle(settings.polls_per_token, on=settings.rate_limits),
            on=settings.rate_limits,
        )

    async def hit(self, name: str, *ids: str) -> None:
        """Count one attempt; refuse it (``RateLimited``, reason ``name``) when a tier
        is already spent."""
        if not self.on:
            return
        ids = self._ids(name, ids)
        for item in self._tiers[name]:
            if not await self._limiter.hit(item, name, *ids):
                raise await self._refusal(name, ids)

    async def check(self, name: str, *ids: str) -> None:
        """Refuse while a tier is spent, counting nothing (a limit on failures)."""
        if not self.on:
            return
        ids = self._ids(name, ids)
        for item in self._tiers[name]:
            if not await self._limiter.test(item, name, *ids):
                raise await self._refusal(name, ids)

    async def wait(self, name: str, *ids: str) -> int:
        """Seconds until every spent tier has room again (0: none is spent)."""
        if not self.on:
            return 0
        ids = self._ids(name, ids)
        waits = [0.0]
        for item in self._tiers[name]:
            if not await self._limiter.test(item, name, *ids):
                stats = await self._limiter.get_window_stats(item, name, *ids)
                waits.append(stats.reset_time - time.time())
        return max(1, math.ceil(max(waits))) if len(waits) > 1 else 0

    async def count(self, name: str, *ids: str) -> None:
        """Count a failure in every tier (it is answered already; nothing is refused)."""
        if not self.on:
            return
        ids = self._ids(name, ids)
        for item in self._tiers[name]:
            await self._limiter.hit(item, name, *ids)

    async def clear(self, name: str, *ids: str) -> None:
        if not self.on:
            return
        ids = self._ids(name, ids)
        for item in self._tiers[name]:
            await self._limiter.clear(item, name, *ids)

    @staticmethod
    def _ids(name: str, ids: tuple[str, ...]) -> tuple[str, ...]:
        at = ADDRESS_AT.get(name)
        if at is None or at >= len(ids):
            return ids
        return (*ids[:at], address_key(ids[at]), *ids[at + 1 :])

    async def _refusal(self, name: str, ids: tuple[str, ...]) -> RateLimited:
        wait = await self.wait(name, *ids) or 1
        return RateLimited(
            f"too many requests: try again in {wait} s", retry_after=wait, reason=name
        )


class PollThrottle:
    """At most ``limit`` ("N/window") status polls per queue token (by its ``jti``) in
    each window of this instance; past it, 429 ``poll_too_fast`` until the window ends.

    Fixed windows, all tokens' together: one dict of counts, replaced when the window
    ends, so memory holds only the tokens that polled in the current window and no
    sweep is needed. Keys and values are a str and an int, objects the garbage
    collector does not track, so a large table costs its collections nothing. A
    window's edge lets a token through twice its number once; the defaults leave
    honest pages well under the number either way."""

    __slots__ = ("_amount", "_clock", "_counts", "_ends", "_on", "_window")

    def __init__(
        self, limit: str, *, on: bool = True, clock: Callable[[], float] = time.monotonic
    ) -> None:
        item = parse(limit)
        self._amount = item.amount
        self._window = float(item.get_expiry())
        self._clock = clock
        self._on = on
        self._counts: dict[str, int] = {}
        self._ends = 0.0

    def hit(self, jti: str) -> None:
        if not self._on:
            return
        now = self._clock()
        counts = self._counts
        if now >= self._ends or len(counts) >= MAX_TRACKED_TOKENS:
            counts = self._counts = {}
            self._ends = now + self._window
        seen = counts.get(jti, 0) + 1
        counts[jti] = seen
        if seen > self._amount:
            wait = math.ceil(self._ends - now)
            raise RateLimited(
                f"poll at most every pollAfterSeconds: try again in {wait} s",
                retry_after=wait,
                reason=POLL_TOO_FAST,
            )
