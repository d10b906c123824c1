"""The command line of ``boxoffice bench``, importable without the bench extras."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

SCENARIOS = ("all", "hot-path", "writes", "drop", "memory", "signin", "abuse")
# wrk seconds per measurement when --seconds is not given.
DEFAULT_SECONDS = {"hot-path": 5, "writes": 8, "signin": 10, "abuse": 60}
DEFAULT_ROUNDS = {"hot-path": 3, "writes": 3, "signin": 2, "abuse": 2}
# Options that name where things are, left out of the command a report quotes.
_WHERE = {"postgres_url", "redis_url", "port"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Measure this machine on a boxoffice server of the bench's own (fresh database "
        "and Redis prefix): the hot path (wrk), the database's write path (wrk), a whole "
        "ticket drop on a concert's own line that opens a few seconds in, with its "
        "invariants checked afterwards, memory with a long line, and status polls during a storm "
        "of sign-ins. Each run rewrites "
        "its own sections of the report. Exits non-zero when an invariant is broken, a "
        "fan in the drop was told what the contract does not allow, or a measurement was "
        "not one (answers mostly not 2xx)."
    )
    parser.add_argument(
        "scenario",
        choices=SCENARIOS,
        nargs="?",
        default="all",
        help="what to measure (default: all of it)",
    )
    _storage_and_report(parser)
    _wrk(parser)
    _drop(parser)
    memory = parser.add_argument_group("memory")
    memory.add_argument("--line", type=int, default=100_000, help="fans in line for memory")
    signin = parser.add_argument_group("sign-ins")
    signin.add_argument(
        "--signins-per-second", type=float, default=100.0, help="the storm's sign-ins a second"
    )
    signin.add_argument(
        "--accounts", type=int, default=300, help="accounts signed up, the storm's spread"
    )
    signin.add_argument("--pollers", type=int, default=300, help="fans in line polling status")
    _abuse(parser)


def _storage_and_report(parser: argparse.ArgumentParser) -> None:
    where = parser.add_argument_group("storage and report")
    where.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    where.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    where.add_argument("--port", type=int, default=8899, help="the bench server's port")
    where.add_argument(
        "--report",
        type=Path,
        default=Path("docs/benchmarks.md"),
        help="the markdown file whose measured sections the run rewrites",
    )


def _wrk(parser: argparse.ArgumentParser) -> None:
    wrk = parser.add_argument_group("wrk measurements (hot-path, writes, signin)")
    wrk.add_argument(
        "--seconds",
        type=int,
        help="wrk time per measurement (default: hot-path 5, writes 8, signin 10);"
        " abuse: each scenario's flood (default 60)",
    )
    wrk.add_argument(
        "--rounds",
        type=int,
        help="interleaved rounds, the median reported (default: signin 2, the others 3);"
        " abuse: status polls limits off then on (default 2)",
    )
    wrk.add_argument(
        "--connections",
        type=int,
        nargs="+",
        default=[16, 64],
        help="writes: wrk connections, each measured every round (default: 16 64)",
    )
    wrk.add_argument(
        "--hot-connections",
        type=int,
        default=16,
        help="hot-path: wrk connections (default: 16)",
    )
    wrk.add_argument(
        "--compare-servers",
        action="store_true",
        help="hot-path: also measure uvicorn without its access log and granian (always in all)",
    )


def _drop(parser: argparse.ArgumentParser) -> None:
    drop = parser.add_argument_group("ticket drop")
    drop.add_argument("--fans", type=int, default=10_000, help="fans in the ticket drop")
    drop.add_argument("--rate", type=float, default=250.0, help="fans arriving per second")
    drop.add_argument("--schedules", type=int, default=20, help="schedules of 50 seats on sale")
    drop.add_argument(
        "--opens-after",
        type=float,
        default=10.0,
        help="seconds into the drop that the concert's own line opens (default: 10)",
    )
    drop.add_argument(
        "--default-line",
        action="store_true",
        help="sell through the default line instead: no opening, no sold-out notice",
    )
    drop.add_argument(
        "--instances",
        type=int,
        default=1,
        help="boxoffice processes sharing the drop's database and Redis prefix, on --port"
        " and the ports after it; fan i talks to instance i %% N (default: 1)",
    )


def _abuse(parser: argparse.ArgumentParser) -> None:
    abuse = parser.add_argument_group("abuse (not part of all)")
    abuse.add_argument("--honest-fans", type=int, default=200, help="honest fans, one per address")
    abuse.add_argument(
        "--flood-concurrency", type=int, default=16, help="the flooder's requests at a time"
    )
    abuse.add_argument(
        "--levels",
        nargs="*",
        choices=("low", "medium", "high"),
        default=["low", "medium", "high"],
        help="challenge levels, each a scenario of its own after limits off and on",
    )
    abuse.add_argument(
        "--challenge-samples",
        type=int,
        default=10,
        help="challenges solved per level for its cost (a script, Chromium)",
    )
    abuse.add_argument(
        "--poll-seconds",
        type=int,
        default=5,
        help="wrk time of each status-poll run, limits off and on (0: skip them)",
    )
    abuse.add_argument(
        "--poll-tokens", type=int, default=5_000, help="waiting fans wrk polls round robin"
    )


def seconds(args: argparse.Namespace, scenario: str) -> int:
    return int(args.seconds or DEFAULT_SECONDS[scenario])


def rounds(args: argparse.Namespace, scenario: str) -> int:
    return int(args.rounds or DEFAULT_ROUNDS[scenario])


def command_line(args: argparse.Namespace) -> str:
    """The ``boxoffice bench`` command that repeats this run, for the report."""
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    defaults = vars(parser.parse_args([]))
    words = ["boxoffice", "bench", args.scenario]
    for action in parser._actions:
        dest = action.dest
        value = getattr(args, dest, None)
        if not action.option_strings or dest in _WHERE or value == defaults.get(dest):
            continue
        if isinstance(value, bool):
            words.append(action.option_strings[0])
        elif isinstance(value, list):
            words += [action.option_strings[0], *map(str, value)]
        else:
            words += [action.option_strings[0], str(value)]
    return shlex.join(words)
