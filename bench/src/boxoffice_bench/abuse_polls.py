"""What the limits cost the status poll: wrk polls waiting fans' status on a server
with RATE_LIMITS=false, then on one with the limits on, alternating, each measured
between two runs of the ceiling (as the hot-path bench measures it).

The hot-path bench polls one token as fast as wrk can, which the poll throttle
(``POLLS_PER_TOKEN``, 30 in 10 s) would refuse nearly every time with the limits on:
that would measure how fast a 429 is, not what the limit costs an honest poll. Here
each run polls ``tokens`` waiting fans round robin (wrk's requests file), so at this
machine's rate each token is polled a few times a second at most, within the
throttle; the refusals are counted all the same, and a run with more than 1% of them
is not a measurement. The fans are put in line through the API, ten to an address
(the default cap), from as many loopback addresses as that takes."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from statistics import mean

import httpx

from boxoffice_bench.abuse_fans import honest_address
from boxoffice_bench.fixtures import Request, make_fans, write_requests
from boxoffice_bench.serve import CEILING_PATH
from boxoffice_bench.server import BenchServer
from boxoffice_bench.wrk import WrkResult, run_wrk

# wrk's connections for the polls, as the hot path measured them when this was written.
CONNECTIONS = 64

POLL_ENV = {
    # One fan admitted, every other one waiting however long the set-up takes.
    "BOXOFFICE_ADMISSION_CAPACITY": "1",
    "BOXOFFICE_WAITER_TIMEOUT_SECONDS": "3600",
}
PLACES_EACH = 10
ADDRESSES_AT_ONCE = 32
# The throttle's window and count (config.py's polls_per_token default).
THROTTLE = (30, 10.0)
TARGET_SHARE = 0.95


@dataclass(frozen=True)
class PollRun:
    limits: bool
    status: WrkResult
    ceilings: tuple[WrkResult, WrkResult]
    tokens: int

    @property
    def share(self) -> float:
        ceiling = mean(c.requests_per_second for c in self.ceilings)
        return self.status.requests_per_second / ceiling if ceiling else 0.0

    @property
    def polls_per_token_window(self) -> float:
        """Polls each token got within one throttle window (the whole run, if shorter)."""
        window = min(self.status.seconds, THROTTLE[1])
        return self.status.requests_per_second * window / self.tokens

    @property
    def refused(self) -> int:
        return self.status.statuses.get(429, 0)


@dataclass(frozen=True)
class PollComparison:
    runs: list[PollRun]
    seconds: int

    def _of(self, limits: bool) -> list[PollRun]:
        return [run for run in self.runs if run.limits is limits]

    def rate(self, limits: bool) -> float:
        return mean(run.status.requests_per_second for run in self._of(limits))

    def share(self, limits: bool) -> float:
        return mean(run.share for run in self._of(limits))

    @property
    def ratio(self) -> float:
        """Limits on against off, each as its share of the ceilings beside it (the
        machine's drift between servers taken out); the raw req/s ratio is reported
        beside it."""
        return self.share(True) / self.share(False)

    @property
    def met(self) -> bool:
        return self.ratio >= TARGET_SHARE

    @property
    def problems(self) -> list[str]:
        found = []
        for run in self.runs:
            polls = run.status
            if polls.ok < polls.requests * 0.99 or polls.socket_errors:
                found.append(
                    f"status polls (limits {'on' if run.limits else 'off'}) answered "
                    f"{polls.others}, {polls.socket_errors} socket errors"
                )
        return found


async def line_up(server: BenchServer, tokens: int) -> list[str]:
    """``tokens`` fans in line through the API, ten from each address: their queue
    tokens."""
    fans = [access for _, access in await make_fans(server.database_url, tokens)]
    gate = asyncio.Semaphore(ADDRESSES_AT_ONCE)

    async def from_address(n: int) -> list[str]:
        transport = httpx.AsyncHTTPTransport(local_address=honest_address(n))
        got = []
        async with (
            gate,
            httpx.AsyncClient(base_url=server.url, transport=transport, timeout=60) as client,
        ):
            for access in fans[n * PLACES_EACH : (n + 1) * PLACES_EACH]:
                answer = await client.post(
                    "/api/v1/queue/tokens", headers={"Authorization": f"Bearer {access}"}
                )
                answer.raise_for_status()
                got.append(str(answer.json()["token"]))
        return got

    groups = await asyncio.gather(*(from_address(n) for n in range(-(-tokens // PLACES_EACH))))
    return [token for group in groups for token in group]


def measure_polls(
    server: BenchServer, *, limits: bool, tokens: int, seconds: int, workdir: Path
) -> PollRun:
    queued = asyncio.run(line_up(server, tokens))
    requests = write_requests(
        workdir / f"polls-{'on' if limits else 'off'}.txt", (Request(t) for t in queued)
    )

    def wrk(name: str, url: str, requests: Path | None = None) -> WrkResult:
        return run_wrk(
            name,
            url,
            seconds=seconds,
            connections=CONNECTIONS,
            workdir=workdir,
            cpu=server.cpu_seconds,
            requests=requests,
        )

    server.settle()
    before = wrk("ceiling", server.url + CEILING_PATH)
    status = wrk("status", f"{server.url}/api/v1/queue/status", requests=requests)
    after = wrk("ceiling", server.url + CEILING_PATH)
    run = PollRun(limits, status, (before, after), len(queued))
    print(
        f"  status, limits {'on ' if limits else 'off'}: {status.requests_per_second:,.0f} req/s"
        f" ({run.share:.0%} of the ceiling {before.requests_per_second:,.0f}/"
        f"{after.requests_per_second:,.0f}), p99 {status.p99_ms:.1f} ms, {len(queued)} tokens"
        f" ~{run.polls_per_token_window:.1f} polls each within {THROTTLE[1]:.0f} s,"
        f" answers {dict(sorted(status.statuses.items()))}",
        flush=True,
    )
    return run
