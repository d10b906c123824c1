"""How the bench is started: ``boxoffice bench`` (the ``bench`` entry point in the
``boxoffice.commands`` group), ``boxoffice-bench`` and ``python -m boxoffice_bench``."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import TYPE_CHECKING

from boxoffice_bench.args import add_arguments

if TYPE_CHECKING:
    from boxoffice.cli import Command


class BenchCommand:
    help = "measure the hot path, the write path and a ticket drop (needs PostgreSQL, Redis, wrk)"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        add_arguments(parser)

    def run(self, args: argparse.Namespace) -> None:
        # Loaded only for a run, so `boxoffice --help` does not import matplotlib.
        if args.scenario == "abuse":
            from boxoffice_bench.abuse import main as run_abuse

            run_abuse(args)
            return
        from boxoffice_bench.run import main as run_bench

        run_bench(args)


COMMAND: Command = BenchCommand()


def main(argv: Sequence[str] | None = None, *, prog: str = "boxoffice-bench") -> None:
    parser = argparse.ArgumentParser(prog=prog)
    COMMAND.add_arguments(parser)
    COMMAND.run(parser.parse_args(argv))
