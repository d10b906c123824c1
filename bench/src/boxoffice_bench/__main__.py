"""``python -m boxoffice_bench``: the same runs as ``boxoffice bench``."""

from boxoffice_bench.command import main

main(prog="python -m boxoffice_bench")
