"""How many failed sign-ins pass before a sign-in is refused (429 ``rate_limited``
with ``Retry-After``): of one account from one address, of one account from anywhere
(a guesser spread over many addresses), and from one address (one guessing many
accounts). Each is counted in moving windows of growing length ("5/minute;10/hour"),
so the wait grows with the failures. The counts live in Redis when the line does, so
every instance sees the same; in memory in the embedded shape. A success clears the
account's count from that address: a fan who mistyped is not held to it later."""

from __future__ import annotations

import time

from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter

from boxoffice.config import Settings
from boxoffice.errors import RateLimited


def limits_storage(settings: Settings) -> Storage:
    """Where edge counts are kept: Redis with the waiting room, else this process."""
    if not settings.redis_url:
        return MemoryStorage()
    uri = "async+" + settings.redis_url
    return RedisStorage(uri, implementation="redispy", key_prefix=f"{settings.redis_prefix}limits")


class SignInLimits:
    def __init__(
        self,
        storage: Storage,
        *,
        per_account_and_address: str,
        per_account: str,
        per_address: str,
    ) -> None:
        self._limiter = MovingWindowRateLimiter(storage)
        self._scopes: dict[str, list[RateLimitItem]] = {
            "account-address": parse_many(per_account_and_address),
            "account": parse_many(per_account),
            "address": parse_many(per_address),
        }

    @classmethod
    def from_settings(cls, settings: Settings, storage: Storage) -> SignInLimits:
        return cls(
            storage,
            per_account_and_address=settings.failed_signins_per_account_and_address,
            per_account=settings.failed_signins_per_account,
            per_address=settings.failed_signins_per_address,
        )

    def _keys(self, email: str, address: str) -> dict[str, tuple[str, ...]]:
        return {
            "account-address": ("signin", email, address),
            "account": ("signin", email),
            "address": ("signin", address),
        }

    async def check(self, *, email: str, address: str) -> None:
        """Refuse a sign-in while any of its counts is spent, saying when to retry."""
        waits = []
        for scope, ids in self._keys(email, address).items():
            for item in self._scopes[scope]:
                if not await self._limiter.test(item, *ids):
                    stats = await self._limiter.get_window_stats(item, *ids)
                    waits.append(stats.reset_time - time.time())
        if waits:
            wait = int(max(waits)) + 1
            raise RateLimited(f"too many failed sign-ins: try again in {wait} s", retry_after=wait)

    async def failed(self, *, email: str, address: str) -> None:
        for scope, ids in self._keys(email, address).items():
            for item in self._scopes[scope]:
                await self._limiter.hit(item, *ids)

    async def succeeded(self, *, email: str, address: str) -> None:
        ids = self._keys(email, address)["account-address"]
        for item in self._scopes["account-address"]:
            await self._limiter.clear(item, *ids)
