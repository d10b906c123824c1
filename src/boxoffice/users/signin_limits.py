"""How many failed sign-ins pass before a sign-in is refused (429 ``rate_limited``
with ``Retry-After``): of one account from one address, of one account from anywhere
(a guesser spread over many addresses), and from one address (one guessing many
accounts). Each is counted in moving windows of growing length ("5/minute;10/hour"),
so the wait grows with the failures; the counting is the edge limits'
(``boxoffice.http.rate_limits``), and ``RATE_LIMITS=false`` turns these off with the
rest. A success clears the account's count from that address: a fan who mistyped is
not held to it later."""

from __future__ import annotations

from boxoffice.errors import RateLimited
from boxoffice.http.rate_limits import EdgeLimits

ACCOUNT_AND_ADDRESS = "signin_failed_account_address"
ACCOUNT = "signin_failed_account"
ADDRESS = "signin_failed_address"


class SignInLimits:
    def __init__(self, limits: EdgeLimits) -> None:
        self._limits = limits

    def _keys(self, email: str, address: str) -> dict[str, tuple[str, ...]]:
        return {ACCOUNT_AND_ADDRESS: (email, address), ACCOUNT: (email,), ADDRESS: (address,)}

    async def check(self, *, email: str, address: str) -> None:
        """Refuse a sign-in while any of its counts is spent, saying when to retry."""
        waits = {
            name: await self._limits.wait(name, *ids)
            for name, ids in self._keys(email, address).items()
        }
        name, wait = max(waits.items(), key=lambda pair: pair[1])
        if wait:
            raise RateLimited(
                f"too many failed sign-ins: try again in {wait} s", retry_after=wait, reason=name
            )

    async def failed(self, *, email: str, address: str) -> None:
        for name, ids in self._keys(email, address).items():
            await self._limits.count(name, *ids)

    async def succeeded(self, *, email: str, address: str) -> None:
        await self._limits.clear(ACCOUNT_AND_ADDRESS, email, address)
