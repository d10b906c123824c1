"""The command line of ``boxoffice bench``, importable without the bench extras."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "scenario", choices=["all", "hot-path", "drop", "memory"], nargs="?", default="all"
    )
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument(
        "--seconds", type=int, default=5, help="wrk time per hot-path endpoint and round"
    )
    parser.add_argument("--rounds", type=int, default=3, help="hot-path rounds (median kept)")
    parser.add_argument(
        "--compare-servers",
        action="store_true",
        help="hot-path: also measure uvicorn with its access log and granian (always in all)",
    )
    parser.add_argument("--fans", type=int, default=10_000, help="fans in the ticket drop")
    parser.add_argument("--rate", type=float, default=250.0, help="fans arriving per second")
    parser.add_argument("--schedules", type=int, default=20, help="schedules of 50 seats on sale")
    parser.add_argument("--line", type=int, default=100_000, help="fans in line for memory")
    parser.add_argument("--report", type=Path, default=Path("docs/benchmarks.md"))
