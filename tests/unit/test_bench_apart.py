"""The benchmark stays outside the product: boxoffice never names ``boxoffice_bench`` and
never imports it, at import time or later. The bench reaches the command line only as an
installed distribution's entry point in the ``boxoffice.commands`` group, loaded when
someone runs ``boxoffice bench`` (or asks for the help)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path
from typing import Any

import pytest

from boxoffice.cli import build_parser

PRODUCT = Path(__file__).resolve().parents[2] / "src" / "boxoffice"
BOXOFFICE = str(Path(sys.executable).parent / "boxoffice")
BENCH_HELP = "measure the hot path, the write path and a ticket drop"

# Runs first in every probe: a finder that notes and refuses any import of the bench,
# so that one the product caught and shrugged off is still seen.
REFUSE_THE_BENCH = """
import importlib.abc, json, sys

attempts = []


class RefuseTheBench(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.partition(".")[0] == "boxoffice_bench":
            attempts.append(name)
            raise ImportError(f"refused: {name}")
        return None


sys.meta_path.insert(0, RefuseTheBench())
"""
SEEN = """
loaded = sorted(n for n in sys.modules if n.partition(".")[0] == "boxoffice_bench")
print(json.dumps({"attempts": attempts, "loaded": loaded}))
"""

# Every module of the product (not alembic's scripts, which only run under alembic),
# then the app built, the commands that need no server run, and the command line
# parsed as `boxoffice serve` parses it, with the bench installed beside it.
THE_PRODUCT_AT_WORK = """
import importlib, os, pkgutil
import boxoffice
from boxoffice import cli
from boxoffice.app import create_app
from boxoffice.config import Settings

for module in pkgutil.walk_packages(boxoffice.__path__, "boxoffice."):
    if not module.name.startswith("boxoffice.migrations."):
        importlib.import_module(module.name)
create_app(Settings(database_url=os.environ["BOXOFFICE_DATABASE_URL"]))
cli.main(["migrate"])
cli.main(["demo-data"])
argv = ["serve", "--port", "8001", "--workers", "2"]
assert cli.build_parser(cli.installed_commands(argv)).parse_args(argv).workers == 2
"""

THE_BENCH_ITSELF = """
try:
    import boxoffice_bench.args
except ImportError as refused:
    print(refused)
"""


def _probe(code: str, tmp_path: Path) -> tuple[dict[str, Any], str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOXOFFICE_")}
    env["BOXOFFICE_DATABASE_URL"] = f"sqlite:///{tmp_path}/probe.db"
    result = subprocess.run(
        [sys.executable, "-c", REFUSE_THE_BENCH + code + SEEN],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    *printed, seen = result.stdout.splitlines()
    return json.loads(seen), "\n".join(printed)


def _bench_installed() -> bool:
    try:
        distribution("boxoffice-bench")
    except PackageNotFoundError:
        return False
    return True


def test_no_file_of_the_product_names_the_bench() -> None:
    naming = [
        str(path.relative_to(PRODUCT))
        for path in PRODUCT.rglob("*")
        if path.is_file()
        and "__pycache__" not in path.parts
        and b"boxoffice_bench" in path.read_bytes()
    ]
    assert naming == []


def test_the_product_at_work_never_imports_the_bench(tmp_path: Path) -> None:
    seen, printed = _probe(THE_PRODUCT_AT_WORK, tmp_path)
    assert seen == {"attempts": [], "loaded": []}
    assert "database is at the latest schema" in printed


def test_control_the_finder_refuses_the_bench_and_notes_the_attempt(tmp_path: Path) -> None:
    seen, printed = _probe(THE_BENCH_ITSELF, tmp_path)
    assert seen == {"attempts": ["boxoffice_bench"], "loaded": []}
    assert printed == "refused: boxoffice_bench"


def test_without_the_bench_installed_bench_is_no_command(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser({}).parse_args(["bench"])
    assert exited.value.code == 2
    assert "invalid choice: 'bench'" in capsys.readouterr().err


@pytest.mark.skipif(not _bench_installed(), reason="the boxoffice-bench distribution is absent")
def test_the_installed_bench_is_a_command_through_its_entry_point() -> None:
    listed = subprocess.run(
        [BOXOFFICE, "--help"], capture_output=True, text=True, timeout=60, check=True
    )
    assert BENCH_HELP in " ".join(listed.stdout.split())
    bench = subprocess.run(
        [BOXOFFICE, "bench", "--help"], capture_output=True, text=True, timeout=60, check=True
    )
    assert bench.stdout.startswith("usage: boxoffice bench")
    assert "--postgres-url" in bench.stdout
