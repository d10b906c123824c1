"""The abuse bench's flooder: one client on one address that makes as many accounts as
it can and puts each in line, for a fixed time.

It runs in a process of its own (``flood`` is called in a spawned worker), so its
event loop and its proof-of-work solving never slow the honest fans' loop in the
bench's main process. It knows nothing of the line's settings: it joins with ``{}``,
and once a join is answered 403 ``challenge_required`` it asks for a challenge before
every later join, solved by challenge_cost's plain-script loop in one thread (the
flooder's one core). A refusal (429) is waited out for its ``Retry-After``, at most
``MAX_PAUSE_SECONDS``: the limits count in moving windows, so trying sooner gets
nothing more, and a short pause keeps the flood's pressure on the server."""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx

PASSWORD = "flood-the-line-0123"
MAX_PAUSE_SECONDS = 1.0
BUSY_PAUSE_SECONDS = 0.1
TIMEOUT_SECONDS = 30.0
CHALLENGE_REQUIRED = "challenge_required"


@dataclass
class FloodResult:
    """What the flood got: accounts made, places in line (joins answered with a
    queue token), every answer by step and status (0: no answer), and the CPU its
    solving took."""

    address: str
    seconds: float = 0.0
    accounts: int = 0
    places: int = 0
    answers: dict[str, Counter[int]] = field(default_factory=dict)
    solves: int = 0
    solve_cpu_seconds: float = 0.0
    first_signup_refused_at: float | None = None

    def count(self, step: str, status: int) -> None:
        self.answers.setdefault(step, Counter())[status] += 1

    def refused(self, step: str) -> int:
        return sum(n for status, n in self.answers.get(step, {}).items() if status == 429)

    @property
    def accounts_per_minute(self) -> float:
        """Accounts a minute over the run; a run shorter than a minute counts as one
        (a limit of N a minute lets N through at once)."""
        return self.accounts * 60 / max(self.seconds, 60.0)


def solve_payload(challenge: dict[str, Any], number: int) -> str:
    """The ``proof`` a join carries: base64 of ALTCHA's payload for this solution."""
    payload = {
        "algorithm": challenge["algorithm"],
        "challenge": challenge["challenge"],
        "number": number,
        "salt": challenge["salt"],
        "signature": challenge["signature"],
    }
    return base64.b64encode(json.dumps(payload).encode()).decode()


def solve(challenge: dict[str, Any], deadline: float) -> tuple[str, float] | None:
    """The proof of a challenge, as a plain script finds it, and the thread's CPU
    seconds spent on it; None if the flood is over before its turn to be solved."""
    from boxoffice_bench.challenge_cost import solve_in_python

    if time.monotonic() >= deadline:
        return None
    started = time.thread_time()
    number = solve_in_python(challenge)
    return solve_payload(challenge, number), time.thread_time() - started


def _pause(answer: httpx.Response) -> float:
    if answer.status_code == 429:
        try:
            return min(MAX_PAUSE_SECONDS, float(answer.headers.get("retry-after", "1")))
        except ValueError:
            return MAX_PAUSE_SECONDS
    return BUSY_PAUSE_SECONDS


def _code(answer: httpx.Response) -> str:
    try:
        return str(answer.json().get("code", ""))
    except (ValueError, AttributeError):
        return ""


class _Flood:
    def __init__(self, client: httpx.AsyncClient, result: FloodResult, deadline: float) -> None:
        self.client = client
        self.result = result
        self.deadline = deadline
        self.started = time.monotonic()
        self.run = secrets.token_hex(3)
        self.made = 0
        self.needs_proof = False
        self.solver = ThreadPoolExecutor(max_workers=1)

    async def call(self, step: str, method: str, url: str, **kw: Any) -> httpx.Response | None:
        try:
            answer = await self.client.request(method, url, **kw)
        except httpx.HTTPError:
            self.result.count(step, 0)
            await asyncio.sleep(BUSY_PAUSE_SECONDS)
            return None
        self.result.count(step, answer.status_code)
        return answer

    async def sign_up(self) -> str | None:
        self.made += 1
        body = {
            "email": f"flood-{self.run}-{self.made}@bench.example",
            "password": PASSWORD,
            "name": f"Flood {self.made}",
        }
        answer = await self.call("signup", "POST", "/api/v1/accounts", json=body)
        if answer is None:
            return None
        if answer.status_code != 201:
            if answer.status_code == 429 and self.result.first_signup_refused_at is None:
                self.result.first_signup_refused_at = time.monotonic() - self.started
            await asyncio.sleep(_pause(answer))
            return None
        self.result.accounts += 1
        return str(answer.json()["accessToken"])

    async def proof(self, auth: dict[str, str]) -> str | None:
        answer = await self.call("challenge", "GET", "/api/v1/queue/challenge", headers=auth)
        if answer is None or answer.status_code != 200:
            if answer is not None:
                await asyncio.sleep(_pause(answer))
            return None
        loop = asyncio.get_running_loop()
        solved = await loop.run_in_executor(self.solver, solve, answer.json(), self.deadline)
        if solved is None:
            return None
        proof, spent = solved
        self.result.solves += 1
        self.result.solve_cpu_seconds += spent
        return proof

    async def join(self, access: str) -> None:
        auth = {"Authorization": f"Bearer {access}"}
        for _ in range(2):  # once more with a proof, the first time one is asked for
            body: dict[str, str] = {}
            if self.needs_proof:
                proof = await self.proof(auth)
                if proof is None or time.monotonic() >= self.deadline:
                    return
                body["proof"] = proof
            answer = await self.call(
                "join", "POST", "/api/v1/queue/tokens", json=body, headers=auth
            )
            if answer is None:
                return
            if answer.status_code in (200, 201):
                self.result.places += answer.status_code == 201
                return
            if answer.status_code == 403 and _code(answer) == CHALLENGE_REQUIRED:
                if self.needs_proof:
                    return  # a proof was sent and refused: this account's turn is over
                self.needs_proof = True
                continue
            await asyncio.sleep(_pause(answer))
            return

    async def worker(self) -> None:
        while time.monotonic() < self.deadline:
            access = await self.sign_up()
            if access is not None and time.monotonic() < self.deadline:
                await self.join(access)


async def _flood(url: str, *, address: str, seconds: float, concurrency: int) -> FloodResult:
    result = FloodResult(address)
    transport = httpx.AsyncHTTPTransport(local_address=address)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=url, transport=transport, limits=limits, timeout=TIMEOUT_SECONDS
    ) as client:
        flood = _Flood(client, result, time.monotonic() + seconds)
        try:
            await asyncio.gather(*(flood.worker() for _ in range(concurrency)))
        finally:
            flood.solver.shutdown(wait=False, cancel_futures=True)
        result.seconds = time.monotonic() - flood.started
    return result


def flood(
    url: str, *, address: str, seconds: float, concurrency: int, start_at: float
) -> FloodResult:
    """The flood, from ``start_at`` (``time.time()``) for ``seconds``: run in a worker
    process of its own."""
    time.sleep(max(0.0, start_at - time.time()))
    return asyncio.run(_flood(url, address=address, seconds=seconds, concurrency=concurrency))
