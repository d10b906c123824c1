"""The abuse bench's honest fans: each from a loopback address of their own, arriving
at a steady pace, signing up, joining the line (with a proof when the line asks for
one) and polling their place at the pace they are told, until the run is over.

A fan's proof: the bench stands in for 200 browsers on two cores, which cannot solve
200 real challenges at ``high`` in a minute (about 2.5 CPU-s each in Python). So a
fan asks the server for a challenge as the page does, and the bench answers it with
a twin the server accepts: the same salt parameters (fan, line, level, expiry) under
a fresh random salt, a number of the bench's choosing, signed with the challenge key
the server derives from SECRET_KEY, which the bench sets (as it mints access tokens
with it elsewhere). The fan then waits as long as Chromium takes for that number
(the measured median's rate), so its join comes when a browser's would. What the
challenge costs a fan in a browser is measured in Chromium itself (challenge_cost)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import time
from collections import Counter
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx

PASSWORD = "honest-fan-0123"
TIMEOUT_SECONDS = 60.0
POLL_FLOOR_SECONDS = 1.0

T = TypeVar("T")


def honest_address(n: int) -> str:
    """127.0.0.2 and up for the first 250 fans, then on in 127.0.2.x, 127.0.3.x..."""
    block, host = divmod(n, 250)
    return f"127.0.{0 if block == 0 else block + 1}.{host + 2}"


@dataclass
class FanLog:
    """One honest fan: arrival order (0-based), address, every answer by step and
    status (0: no answer), and the place they were last told."""

    n: int
    address: str
    answers: Counter[tuple[str, int]] = field(default_factory=Counter)
    token: str | None = None
    position: int | None = None
    solve_wait: float = 0.0

    def count(self, step: str, status: int) -> None:
        self.answers[(step, status)] += 1

    @property
    def refused(self) -> dict[str, int]:
        """Answers that were not 2xx, by ``step status``."""
        return {
            f"{step} {status or 'no answer'}": n
            for (step, status), n in self.answers.items()
            if not 200 <= status < 300
        }


class ProofMinter:
    """Twins of the server's challenges with a number the bench knows (see above)."""

    def __init__(self, secret_key: str) -> None:
        from boxoffice.queue.challenge import KEY_LABEL

        self._key = hmac.new(secret_key.encode(), KEY_LABEL, hashlib.sha256).hexdigest()

    def twin(self, challenge: dict[str, Any]) -> tuple[str, int]:
        """A proof the server accepts for this fan and line, and its number."""
        from boxoffice_bench.flooder import solve_payload

        _, _, query = str(challenge["salt"]).partition("?")
        salt = f"{secrets.token_hex(12)}?{query}"
        number = secrets.randbelow(int(challenge["maxnumber"]) + 1)
        hashed = hashlib.sha256(f"{salt}{number}".encode()).hexdigest()
        signature = hmac.new(self._key.encode(), hashed.encode(), hashlib.sha256).hexdigest()
        twin = {"algorithm": challenge["algorithm"], "challenge": hashed, "salt": salt}
        return solve_payload(twin | {"signature": signature}, number), number


@dataclass
class HonestRun:
    """The fans' side of one scenario: when they start, how far apart, what proof
    the line wants, and the event that ends their polling."""

    url: str
    fans: int
    spacing: float
    challenge: str
    minter: ProofMinter | None
    browser_numbers_per_second: float
    done: asyncio.Event = field(default_factory=asyncio.Event)
    started: float = 0.0
    logs: list[FanLog] = field(default_factory=list)

    async def run(self, start_at: float, flood: Awaitable[T]) -> tuple[list[FanLog], T]:
        """Every fan's visit, the first at ``start_at`` (``time.time()``), beside the
        ``flood``; once the flood is over and every fan has joined (or been refused),
        ``done`` is set and each fan polls one last time."""
        loop = asyncio.get_running_loop()
        self.started = loop.time() + max(0.0, start_at - time.time())
        self.logs = [FanLog(n, honest_address(n)) for n in range(self.fans)]
        joined = [asyncio.Event() for _ in self.logs]
        visits = [asyncio.create_task(self._visit(fan, joined[fan.n])) for fan in self.logs]
        try:
            flooded = await flood
            await asyncio.gather(*(event.wait() for event in joined))
        except BaseException:
            for visit in visits:
                visit.cancel()
            raise
        finally:
            self.done.set()
        await asyncio.gather(*visits)
        return self.logs, flooded

    async def _call(
        self, client: httpx.AsyncClient, fan: FanLog, step: str, method: str, url: str, **kw: Any
    ) -> httpx.Response | None:
        try:
            answer = await client.request(method, url, **kw)
        except httpx.HTTPError:
            fan.count(step, 0)
            return None
        fan.count(step, answer.status_code)
        return answer

    async def _visit(self, fan: FanLog, joined: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        await asyncio.sleep(max(0.0, self.started + fan.n * self.spacing - loop.time()))
        transport = httpx.AsyncHTTPTransport(local_address=fan.address)
        async with httpx.AsyncClient(
            base_url=self.url, transport=transport, timeout=TIMEOUT_SECONDS
        ) as client:
            try:
                poll_after = await self._join(client, fan)
            finally:
                joined.set()
            if fan.token is not None:
                await self._poll(client, fan, poll_after)

    async def _join(self, client: httpx.AsyncClient, fan: FanLog) -> float:
        """Sign up, prove, join; the seconds until the first poll (or 0 if refused)."""
        body = {"email": f"fan{fan.n}@honest.example", "password": PASSWORD, "name": f"Fan {fan.n}"}
        answer = await self._call(client, fan, "signup", "POST", "/api/v1/accounts", json=body)
        if answer is None or answer.status_code != 201:
            return 0.0
        auth = {"Authorization": f"Bearer {answer.json()['accessToken']}"}
        join: dict[str, str] = {}
        if self.challenge != "off" and self.minter is not None:
            answer = await self._call(
                client, fan, "challenge", "GET", "/api/v1/queue/challenge", headers=auth
            )
            if answer is None or answer.status_code != 200:
                return 0.0
            join["proof"], number = self.minter.twin(answer.json())
            fan.solve_wait = number / self.browser_numbers_per_second
            await asyncio.sleep(fan.solve_wait)
        answer = await self._call(
            client, fan, "join", "POST", "/api/v1/queue/tokens", json=join, headers=auth
        )
        if answer is None or answer.status_code not in (200, 201):
            return 0.0
        status = answer.json()
        fan.token, fan.position = str(status["token"]), status.get("position")
        return float(status.get("pollAfterSeconds") or POLL_FLOOR_SECONDS)

    async def _poll(self, client: httpx.AsyncClient, fan: FanLog, poll_after: float) -> None:
        """At the pace the server tells, until ``done``; then once more, for the place
        the fan stands in once nobody joins any more."""
        auth = {"Authorization": f"Bearer {fan.token}"}
        while True:
            try:
                await asyncio.wait_for(
                    self.done.wait(), timeout=max(POLL_FLOOR_SECONDS, poll_after)
                )
                last = True
            except TimeoutError:
                last = False
            answer = await self._call(
                client, fan, "poll", "GET", "/api/v1/queue/status", headers=auth
            )
            if answer is not None and answer.status_code == 200:
                status = answer.json()
                fan.position = status.get("position")
                poll_after = float(status.get("pollAfterSeconds") or POLL_FLOOR_SECONDS)
            if last:
                return
