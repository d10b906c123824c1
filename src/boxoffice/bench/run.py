"""``boxoffice bench``: the scenarios, each on a server of its own."""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from boxoffice.bench.drop import print_drop, run_drop
from boxoffice.bench.hotpath import HotPathRow, run_hot_path
from boxoffice.bench.memory import run_memory
from boxoffice.bench.report import plot_drop, write_report
from boxoffice.bench.server import BenchServer
from boxoffice.bench.wrk import require_wrk

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


def _on_server(
    args: argparse.Namespace,
    env: dict[str, str],
    work: Callable[[BenchServer], T],
    *,
    server_kind: str = "uvicorn",
) -> T:
    server = BenchServer(args.postgres_url, args.redis_url, extra_env=env, server=server_kind)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            server.start(Path(tmp) / "server.log")
            return work(server)
        finally:
            server.stop()


def main(args: argparse.Namespace) -> None:
    logging.getLogger("httpx").setLevel(logging.WARNING)
    if args.scenario in ("all", "hot-path"):
        require_wrk()
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        hot = drop = hot_seats = spread = memory = None
        servers: list[tuple[str, list[HotPathRow]]] = []

        def hot_path(s: BenchServer) -> list[HotPathRow]:
            return run_hot_path(s, seconds=args.seconds, rounds=args.rounds, workdir=workdir)

        if args.scenario in ("all", "hot-path"):
            print("boxoffice serve (uvicorn, access log): the default")
            hot = _on_server(args, HOT_PATH_ENV, hot_path)
            servers.append(("uvicorn, access log (`boxoffice serve`)", hot))
            if args.scenario == "all" or args.compare_servers:
                for label, kind, env in SERVER_CHOICES:
                    print(label)
                    servers.append(
                        (label, _on_server(args, HOT_PATH_ENV | env, hot_path, server_kind=kind))
                    )
        if args.scenario in ("all", "drop"):
            drop = _on_server(
                args,
                DROP_ENV,
                lambda s: run_drop(
                    s,
                    fans=args.fans,
                    rate=args.rate,
                    schedules=args.schedules,
                    seats_per_schedule=50,
                ),
            )
            print_drop(drop)
            failed |= bool(drop.violations)
        if args.scenario == "all":
            buyers = max(1_000, args.fans // 5)
            hot_seats = _on_server(
                args,
                DROP_ENV,
                lambda s: run_drop(
                    s, fans=buyers, rate=args.rate, schedules=1, seats_per_schedule=50
                ),
            )
            print_drop(hot_seats)
            spread = _on_server(
                args,
                DROP_ENV,
                lambda s: run_drop(
                    s, fans=buyers, rate=args.rate, schedules=1_000, seats_per_schedule=50
                ),
            )
            print_drop(spread)
            failed |= bool(hot_seats.violations or spread.violations)
        if args.scenario in ("all", "memory"):
            memory = _on_server(
                args,
                {"BOXOFFICE_WAITER_TIMEOUT_SECONDS": "3600"},
                lambda s: run_memory(s, fans=args.line),
            )
        if hot and drop and hot_seats and spread and memory:
            plot = args.report.parent / "drop-timeline.png"
            args.report.parent.mkdir(parents=True, exist_ok=True)
            plot_drop(drop, plot)
            command = (
                "boxoffice bench " + shlex.join(sys.argv[2:])
                if len(sys.argv) > 2
                else "boxoffice bench"
            )
            write_report(
                args.report,
                command=command.strip(),
                hot=hot,
                servers=servers,
                drop=drop,
                hot_seats=hot_seats,
                spread=spread,
                memory=memory,
                plot=plot,
            )
            print(f"wrote {args.report} and {plot}")
    if failed:
        sys.exit("boxoffice bench: invariants violated")
