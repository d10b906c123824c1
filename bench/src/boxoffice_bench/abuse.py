"""``boxoffice bench abuse``: one flooding client against honest fans on one line.

For each scenario (limits off; limits on with the defaults; limits on with each
challenge level) a server of its own, production shape (PostgreSQL, Redis, no
guests), on a fresh database and key space. For ``--seconds`` (60), one client on
one address (``FLOODER_ADDRESS``, a process of its own) makes as many accounts as it
can, 16 at a time, and puts each in the default line, while 200 honest fans, each
from a loopback address of their own (127.0.0.2 and up), arrive one every
seconds/200, sign up, join and poll as told. Nobody is admitted (capacity 0) and
nobody lapses (a long waiter timeout, so the flooder keeps its places without
polling them): a fan's position at the end is the line as the joins built it, and
its position less its arrival rank among honest fans (the order the line took their
joins in) is the flooder's places ahead of it. Then what a challenge costs
(challenge_cost: a script's CPU-seconds per place, Chromium's median solve), and the
status poll's rate with the limits on against off (abuse_polls)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from multiprocessing import get_context
from pathlib import Path
from statistics import median
from typing import Any, TypeVar

import httpx

from boxoffice_bench.abuse_fans import FanLog, HonestRun, ProofMinter
from boxoffice_bench.abuse_polls import POLL_ENV, PollComparison, measure_polls
from boxoffice_bench.args import command_line, rounds
from boxoffice_bench.args import seconds as seconds_of
from boxoffice_bench.fixtures import ADMIN
from boxoffice_bench.flooder import FloodResult, flood
from boxoffice_bench.report import write_sections
from boxoffice_bench.server import SECRET_KEY, BenchServer
from boxoffice_bench.wrk import require_wrk

T = TypeVar("T")

ABUSE_ENV = {
    "BOXOFFICE_ADMISSION_CAPACITY": "0",
    "BOXOFFICE_WAITER_TIMEOUT_SECONDS": "3600",
    "BOXOFFICE_GUEST_SIGNUP": "false",
}
FLOODER_ADDRESS = "127.0.1.1"
# The flooder's process is spawned: time to import before the clock starts.
SPAWN_GRACE_SECONDS = 3.0
# Chromium's numbers a second here (boxoffice.queue.challenge's measure, two workers),
# when this run could not measure it.
BROWSER_NUMBERS_PER_SECOND = 6_500_000.0
DEFAULT_PLACES_PER_ADDRESS = 10
LEVELS = ("low", "medium", "high")
WAITING_ROOM = "/api/v1/admin/waiting-room"


@dataclass(frozen=True)
class Scenario:
    name: str
    limits: bool
    challenge: str = "off"
    # Sign-ups unlimited: the flooder's accounts stand for ones made ahead, over weeks,
    # under the sign-up limit, so the line's cap is what holds it.
    accounts_ahead: bool = False

    @property
    def env(self) -> dict[str, str]:
        ahead = {"BOXOFFICE_SIGNUPS_PER_ADDRESS": "100000/minute"} if self.accounts_ahead else {}
        return ABUSE_ENV | limits_env(self.limits) | ahead

    @property
    def patch(self) -> dict[str, Any]:
        """The line's settings, through the operator's API: no cap with the limits
        off; with them on, the default cap the line was made with."""
        return {"challenge": self.challenge} | ({} if self.limits else {"placesPerAddress": None})


def limits_env(on: bool) -> dict[str, str]:
    """Production's limits and cap, or none (the bench server's own default is none:
    its other benches' fans all come from one address)."""
    return {
        "BOXOFFICE_RATE_LIMITS": "true" if on else "false",
        "BOXOFFICE_PLACES_PER_ADDRESS": str(DEFAULT_PLACES_PER_ADDRESS if on else 0),
    }


def scenarios(levels: list[str]) -> list[Scenario]:
    return [
        Scenario("limits off", limits=False),
        Scenario("limits on", limits=True),
        Scenario("limits on, accounts made ahead", limits=True, accounts_ahead=True),
        *(Scenario(f"limits on, challenge {level}", True, level) for level in levels),
    ]


@dataclass
class ScenarioResult:
    scenario: Scenario
    flood: FloodResult
    fans: list[FanLog]
    line: dict[str, Any]
    seconds: float
    problems: list[str] = field(default_factory=list)

    @property
    def cap(self) -> int | None:
        cap = self.line.get("placesPerAddress")
        return None if cap is None else int(cap)

    @property
    def flooder_places(self) -> int:
        """As the line counts them (``topAddresses``), or the flooder's own count
        where the line does not say."""
        for entry in self.line.get("topAddresses") or []:
            if entry.get("address") == FLOODER_ADDRESS:
                return int(entry["places"])
        return self.flood.places if "topAddresses" not in self.line else 0

    @property
    def displacements(self) -> list[int]:
        """Each honest fan's final position less their arrival rank among honest fans
        (the order the line took their joins in): the places ahead of them that are
        not honest fans'. Ranked by the line's order, not by when the bench sent each
        join: joins sent within a few milliseconds of each other may be taken in either
        order, and that is no one's place taken."""
        placed = sorted(int(f.position) for f in self.fans if f.position is not None)
        return [position - rank for rank, position in enumerate(placed, 1)]

    @property
    def refused(self) -> dict[str, int]:
        total: dict[str, int] = {}
        for fan in self.fans:
            for what, n in fan.refused.items():
                total[what] = total.get(what, 0) + n
        return total

    @property
    def not_in_line(self) -> int:
        return sum(1 for f in self.fans if f.position is None)

    @property
    def solve_waits(self) -> list[float]:
        return [f.solve_wait for f in self.fans if f.solve_wait]


@dataclass(frozen=True)
class ChallengeCost:
    level: str
    python_cpu_seconds: float | None
    chromium_median: float | None
    problem: str | None = None


@dataclass
class AbuseResult:
    honest_fans: int
    seconds: int
    concurrency: int
    scenarios: list[ScenarioResult]
    costs: list[ChallengeCost]
    polls: PollComparison | None

    @property
    def problems(self) -> list[str]:
        found = [f"{r.scenario.name}: {p}" for r in self.scenarios for p in r.problems]
        found += [f"challenge {c.level}: {c.problem}" for c in self.costs if c.problem]
        return found + (self.polls.problems if self.polls is not None else [])


def _on_server(
    args: argparse.Namespace, env: dict[str, str], work: Callable[[BenchServer], T]
) -> T:
    server = BenchServer(args.postgres_url, args.redis_url, port=args.port, extra_env=env)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            server.start(Path(tmp) / "server.log")
            return work(server)
        finally:
            server.stop()


def _configure(server: BenchServer, scenario: Scenario) -> list[str]:
    """The scenario's settings on the default line; what the line did not take."""
    with httpx.Client(base_url=server.url, headers=ADMIN, timeout=30) as client:
        answer = client.patch(WAITING_ROOM, json=scenario.patch)
    if answer.status_code != 200:
        return [f"the line refused {scenario.patch}: {answer.status_code} {answer.text[:200]}"]
    view = answer.json()
    wanted = scenario.patch | (
        {"placesPerAddress": DEFAULT_PLACES_PER_ADDRESS} if scenario.limits else {}
    )
    return [
        f"the line says {key}={view.get(key, '(absent)')!r}, not {value!r}"
        for key, value in wanted.items()
        if view.get(key, ...) != value
    ]


def run_scenario(
    server: BenchServer,
    scenario: Scenario,
    *,
    seconds: int,
    fans: int,
    concurrency: int,
    browser_rate: float,
) -> ScenarioResult:
    problems = _configure(server, scenario)
    minter = None if scenario.challenge == "off" else ProofMinter(SECRET_KEY)
    honest = HonestRun(server.url, fans, seconds / fans, scenario.challenge, minter, browser_rate)
    print(
        f"{scenario.name}: one flooder ({FLOODER_ADDRESS}, {concurrency} at a time) and"
        f" {fans} fans, {seconds} s",
        flush=True,
    )
    start_at = time.time() + SPAWN_GRACE_SECONDS
    started = time.monotonic()
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        flooding = pool.submit(
            flood,
            server.url,
            address=FLOODER_ADDRESS,
            seconds=seconds,
            concurrency=concurrency,
            start_at=start_at,
        )

        async def both() -> tuple[list[FanLog], FloodResult]:
            return await honest.run(start_at, asyncio.wrap_future(flooding))

        logs, flooded = asyncio.run(both())
    with httpx.Client(base_url=server.url, headers=ADMIN, timeout=30) as client:
        answer = client.get(WAITING_ROOM)
        line = answer.json() if answer.status_code == 200 else {}
    result = ScenarioResult(
        scenario, flooded, logs, line, time.monotonic() - started - SPAWN_GRACE_SECONDS, problems
    )
    print_scenario(result)
    return result


def print_scenario(r: ScenarioResult) -> None:
    shifts = r.displacements
    f = r.flood
    answers = {step: dict(sorted(c.items())) for step, c in f.answers.items()}
    print(
        f"  flooder: {f.accounts} accounts ({f.accounts_per_minute:.0f}/min), places held"
        f" {r.flooder_places} (its count {f.places}), cap {r.cap}; answers {answers}"
        + (f"; {f.solves} solves, {f.solve_cpu_seconds:.1f} CPU-s" if f.solves else "")
        + (
            f"; sign-ups refused from {f.first_signup_refused_at:.1f} s in"
            if f.first_signup_refused_at is not None
            else ""
        )
    )
    print(
        f"  honest: {len(r.fans) - r.not_in_line}/{len(r.fans)} in line; position - arrival rank:"
        f" median {median(shifts) if shifts else '—'}, worst {max(shifts) if shifts else '—'};"
        f" refused {sum(r.refused.values())} {r.refused or ''}; waiting {r.line.get('waiting')}",
        flush=True,
    )
    for problem in r.problems:
        print(f"  NOT AS ASKED: {problem}")


def measure_costs(levels: list[str], samples: int) -> list[ChallengeCost]:
    """challenge_cost's two measures for each level, on a quiet machine (before any
    server runs)."""
    costs = []
    for level in levels:
        try:
            from boxoffice_bench import challenge_cost

            cpu = challenge_cost.python_cpu_seconds_per_place(level, samples)
        except Exception as exc:  # reported; the rest of the run goes on
            costs.append(ChallengeCost(level, None, None, f"no script measure: {exc!r}"))
            continue
        try:
            timing = asyncio.run(challenge_cost.chromium_seconds_per_place(level, samples))
        except Exception as exc:
            costs.append(ChallengeCost(level, cpu, None, f"no Chromium measure: {exc!r}"))
            continue
        costs.append(ChallengeCost(level, cpu, timing.median))
        print(
            f"challenge {level}: a script {cpu:.2f} CPU-s per place, Chromium median"
            f" {timing.median:.2f} s ({samples} each)",
            flush=True,
        )
    return costs


def _browser_rate(level: str, costs: list[ChallengeCost]) -> float:
    """Chromium's numbers a second as measured at this level (the median solve tries
    half the range), else challenge.py's figure."""
    from boxoffice.queue.challenge import MAX_NUMBERS, ChallengeLevel

    for cost in costs:
        if cost.level == level and cost.chromium_median:
            return float(MAX_NUMBERS[ChallengeLevel(level)]) / 2 / cost.chromium_median
    return BROWSER_NUMBERS_PER_SECOND


def run_abuse(args: argparse.Namespace, workdir: Path) -> AbuseResult:
    seconds = seconds_of(args, "abuse")
    levels = list(args.levels)
    costs = measure_costs(levels, args.challenge_samples) if levels else []
    results = []
    for scenario in scenarios(levels):
        rate = _browser_rate(scenario.challenge, costs) if scenario.challenge != "off" else 0.0
        results.append(
            _on_server(
                args,
                scenario.env,
                partial(
                    run_scenario,
                    scenario=scenario,
                    seconds=seconds,
                    fans=args.honest_fans,
                    concurrency=args.flood_concurrency,
                    browser_rate=rate,
                ),
            )
        )
    polls = None
    if args.poll_seconds:
        require_wrk()
        print(f"status polls, limits off then on, {rounds(args, 'abuse')} rounds:")
        runs = [
            _on_server(
                args,
                POLL_ENV | limits_env(on),
                partial(
                    measure_polls,
                    limits=on,
                    tokens=args.poll_tokens,
                    seconds=args.poll_seconds,
                    workdir=workdir,
                ),
            )
            for _ in range(rounds(args, "abuse"))
            for on in (False, True)
        ]
        polls = PollComparison(runs, args.poll_seconds)
    return AbuseResult(args.honest_fans, seconds, args.flood_concurrency, results, costs, polls)


def main(args: argparse.Namespace) -> None:
    from boxoffice_bench.abuse_report import HEADING, SECTION, print_verdicts, section

    logging.getLogger("httpx").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        result = run_abuse(args, Path(tmp))
    lines = section(result)
    print_verdicts(result)
    report: Path = args.report
    if report.exists() and f"<!-- measured: {SECTION} -->" not in report.read_text():
        report.write_text(report.read_text().rstrip("\n") + f"\n\n{HEADING}\n")
    write_sections(report, {SECTION: lines}, command=command_line(args))
    print(f"rewrote {SECTION} in {report}")
    if result.problems:
        sys.exit("boxoffice bench abuse: " + "; ".join(result.problems))
