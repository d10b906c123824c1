"""``boxoffice bench``: the scenarios, each on a server of its own, each rewriting its
sections of the report as soon as it is done."""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from boxoffice_bench import instances, tables
from boxoffice_bench.args import command_line, rounds, seconds
from boxoffice_bench.drop import DropResult, print_drop, run_drop
from boxoffice_bench.hotpath import HotPathRow, run_hot_path
from boxoffice_bench.memory import own_redis, run_memory
from boxoffice_bench.prepare import WRITES_ENV
from boxoffice_bench.report import plot_drop, write_sections
from boxoffice_bench.server import BenchServer
from boxoffice_bench.signin import SIGNIN_ENV, run_signin, signin_table
from boxoffice_bench.writes import run_writes
from boxoffice_bench.wrk import require_wrk

T = TypeVar("T")

# The pace a single process on this machine serves comfortably; the knob a real
# operator turns to match the booking side's capacity.
DROP_ENV = {
    "BOXOFFICE_ADMISSION_CAPACITY": "200",
    "BOXOFFICE_ADMISSION_PER_MINUTE": "6000",
}
# The hot path again on other servers, to choose the one `boxoffice serve` runs.
SERVER_CHOICES = [
    ("uvicorn, no access log", "uvicorn", {"BOXOFFICE_ACCESS_LOG": "false"}),
    ("granian 2.8, access log", "granian", {}),
    ("granian 2.8, no access log", "granian", {"BOXOFFICE_ACCESS_LOG": "false"}),
]
HOT_PATH_ENV = {"BOXOFFICE_ADMISSION_CAPACITY": "1"}
MEMORY_ENV = {"BOXOFFICE_WAITER_TIMEOUT_SECONDS": "3600"}


@dataclass
class Outcome:
    """A scenario's sections of the report, and what broke (an empty list: nothing)."""

    sections: dict[str, list[str]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)


def _on_server(
    args: argparse.Namespace,
    env: dict[str, str],
    work: Callable[[BenchServer], T],
    *,
    server_kind: str = "uvicorn",
) -> T:
    server = BenchServer(
        args.postgres_url, args.redis_url, port=args.port, extra_env=env, server=server_kind
    )
    with tempfile.TemporaryDirectory() as tmp:
        try:
            server.start(Path(tmp) / "server.log")
            return work(server)
        finally:
            server.stop()


def hot_path(args: argparse.Namespace, workdir: Path) -> Outcome:
    def measure(server: BenchServer) -> list[HotPathRow]:
        return run_hot_path(
            server,
            seconds=seconds(args, "hot-path"),
            rounds=rounds(args, "hot-path"),
            connections=args.hot_connections,
            workdir=workdir,
        )

    print("the default server: uvicorn, access log (as `boxoffice serve` runs)")
    rows = _on_server(args, HOT_PATH_ENV, measure)
    outcome = Outcome({"hot-path": tables.hot_path(rows)})
    if args.scenario == "all" or args.compare_servers:
        servers = [("uvicorn, access log (`boxoffice serve`)", rows)]
        for label, kind, env in SERVER_CHOICES:
            print(label)
            servers.append((label, _on_server(args, HOT_PATH_ENV | env, measure, server_kind=kind)))
        outcome.sections["servers"] = tables.servers(servers)
    return outcome


def writes(args: argparse.Namespace, workdir: Path) -> Outcome:
    result = _on_server(
        args,
        WRITES_ENV,
        lambda s: run_writes(
            s,
            seconds=seconds(args, "writes"),
            rounds=rounds(args, "writes"),
            connections=args.connections,
            workdir=workdir,
        ),
    )
    return Outcome({"writes": tables.writes(result)}, result.problems)


def _drop(args: argparse.Namespace, *, fans: int, schedules: int) -> DropResult:
    first = BenchServer(args.postgres_url, args.redis_url, port=args.port, extra_env=DROP_ENV)
    with (
        tempfile.TemporaryDirectory() as tmp,
        instances.running(first, args.instances, Path(tmp)) as (server, *others),
    ):
        result = run_drop(
            server,
            fans=fans,
            rate=args.rate,
            schedules=schedules,
            seats_per_schedule=50,
            opens_after=None if args.default_line else args.opens_after,
            others=others,
        )
    print_drop(result)
    if result.opening is not None:
        for line in tables.opening(result.opening):
            print("  " + line)
    return result


def drop(args: argparse.Namespace, workdir: Path) -> Outcome:
    """The drop; in a run of everything, also every fan after the same 50 seats and
    the same crowd spread over 1,000 schedules."""
    main = _drop(args, fans=args.fans, schedules=args.schedules)
    args.report.parent.mkdir(parents=True, exist_ok=True)
    plot_drop(main, args.report.parent / tables.DROP_PLOT)
    results = {"drop": main}
    if args.scenario == "all":
        buyers = max(1_000, args.fans // 5)
        results["drop-hot-seats"] = _drop(args, fans=buyers, schedules=1)
        results["drop-spread"] = _drop(args, fans=buyers, schedules=1_000)
    return Outcome(
        {
            name: tables.drop(result, plot=tables.DROP_PLOT if name == "drop" else None)
            for name, result in results.items()
        },
        [f for result in results.values() for f in result.failures],
    )


def memory(args: argparse.Namespace, workdir: Path) -> Outcome:
    # On a redis-server of its own: its slow log, CPU and clients are this run's alone.
    with own_redis() as redis_url:
        own = argparse.Namespace(**{**vars(args), "redis_url": redis_url})
        result = _on_server(own, MEMORY_ENV, lambda s: run_memory(s, fans=args.line))
    return Outcome({"memory": tables.memory(result)})


def signin(args: argparse.Namespace, workdir: Path) -> Outcome:
    result = _on_server(
        args,
        SIGNIN_ENV,
        lambda s: run_signin(
            s,
            seconds=seconds(args, "signin"),
            rounds=rounds(args, "signin"),
            rate=args.signins_per_second,
            accounts=args.accounts,
            pollers=args.pollers,
            workdir=workdir,
        ),
    )
    for problem in result.problems:
        print(f"  NOT A MEASUREMENT: {problem}")
    return Outcome({"signin": signin_table(result)}, result.problems)


SCENARIOS: dict[str, Callable[[argparse.Namespace, Path], Outcome]] = {
    "hot-path": hot_path,
    "writes": writes,
    "drop": drop,
    "memory": memory,
    "signin": signin,
}


def main(args: argparse.Namespace) -> None:
    logging.getLogger("httpx").setLevel(logging.WARNING)
    names = list(SCENARIOS) if args.scenario == "all" else [args.scenario]
    if {"hot-path", "writes", "memory", "signin"} & set(names):
        require_wrk()
    command = command_line(args)
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            outcome = SCENARIOS[name](args, Path(tmp))
            write_sections(args.report, outcome.sections, command=command)
            print(f"rewrote {', '.join(outcome.sections)} in {args.report}")
            failures += outcome.failures
    if failures:
        sys.exit("boxoffice bench: " + "; ".join(failures))
