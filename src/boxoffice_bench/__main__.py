"""``python -m boxoffice_bench``: the same runs as ``boxoffice bench``."""

from __future__ import annotations

import argparse

from boxoffice_bench.args import add_arguments
from boxoffice_bench.run import main

parser = argparse.ArgumentParser(prog="python -m boxoffice_bench")
add_arguments(parser)
main(parser.parse_args())
