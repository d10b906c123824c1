"""The benchmark, a layer on top of boxoffice: its server's ceiling route, its report
sections, a small ticket drop that must sell out with every invariant holding, and
the write run's smoke mode end to end."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from redis import Redis

from boxoffice.app import create_app
from boxoffice.config import Settings
from boxoffice.queue.model import DEFAULT_LINE, draw_rank
from boxoffice.queue.scripts import LineKeys
from boxoffice_bench.drop import run_drop
from boxoffice_bench.invariants import admission_order, check_invariants, draw_problems
from boxoffice_bench.report import rewrite_section
from boxoffice_bench.serve import CEILING_BODY, CEILING_PATH, bench_app
from boxoffice_bench.server import BenchServer
from boxoffice_bench.writes import ENDPOINTS
from tests.conftest import POSTGRES_URL, REDIS_URL
from tests.integration.instances import BOXOFFICE, free_port
from tests.support import serve

REPORT = Path(__file__).parents[2] / "docs" / "benchmarks.md"


def _prose(report: str) -> str:
    """The report without its measured sections: what is written by hand."""
    return re.sub(r"<!-- measured: ([\w-]+) -->\n.*?<!-- /measured: \1 -->", "", report, flags=re.S)


@pytest.fixture
def bench_server(tmp_path: Path, postgres_template: str) -> Iterator[BenchServer]:
    server = BenchServer(
        POSTGRES_URL,
        REDIS_URL,
        port=free_port(),
        extra_env={"BOXOFFICE_ADMISSION_CAPACITY": "40", "BOXOFFICE_ADMISSION_PER_MINUTE": "6000"},
    )
    server.start(tmp_path / "server.log")
    yield server
    server.stop()


async def test_the_ceiling_is_the_benchs_own_first_route_and_not_the_products(
    make_settings: Callable[..., Settings],
) -> None:
    async with serve(create_app(make_settings())) as product:
        r = await product.get(CEILING_PATH)
        assert (r.status_code, r.json()["code"]) == (404, "not_found")
    app = bench_app(make_settings())
    assert getattr(app.router.routes[0], "path", None) == CEILING_PATH
    async with serve(app) as bench:
        r = await bench.get(CEILING_PATH)
        assert (r.status_code, r.json()) == (200, CEILING_BODY)
        assert CEILING_PATH not in (await bench.get("/openapi.json")).json()["paths"]
        assert (await bench.get("/api/v1/concerts")).status_code == 200


def test_boxoffice_never_imports_the_bench() -> None:
    # Every module of the product (not alembic's scripts, which only run under alembic).
    probe = (
        "import pkgutil, importlib, sys, boxoffice\n"
        "for m in pkgutil.walk_packages(boxoffice.__path__, 'boxoffice.'):\n"
        "    if not m.name.startswith('boxoffice.migrations.'):\n"
        "        importlib.import_module(m.name)\n"
        "print(sorted(n for n in sys.modules if n.startswith('boxoffice_bench')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_a_run_rewrites_its_own_section_and_keeps_the_prose_around_it() -> None:
    text = (
        "# Benchmarks\n\nWhy it is fast.\n\n<!-- measured: writes -->\nold figures\n"
        "<!-- /measured: writes -->\n\nWhat the figures mean.\n"
    )
    rewritten = rewrite_section(text, "writes", ["new figures"])
    assert rewritten == text.replace("old figures", "new figures")
    added = rewrite_section(rewritten, "memory", ["bytes"])
    assert added == rewritten + "\n<!-- measured: memory -->\nbytes\n<!-- /measured: memory -->\n"


def test_a_small_drop_sells_out_with_every_invariant_holding(bench_server: BenchServer) -> None:
    result = run_drop(bench_server, fans=150, rate=100, schedules=1, seats_per_schedule=50)
    assert result.violations == []
    assert result.stats.bought == 50
    assert result.stats.errors == 0
    assert result.stats.latencies["pay"]


async def test_the_invariant_check_catches_an_admission_out_of_order(
    bench_server: BenchServer,
) -> None:
    events = LineKeys.of(bench_server.prefix, DEFAULT_LINE).events
    client = Redis.from_url(REDIS_URL)
    for seq in (1, 2, 3):
        client.xadd(events, {"e": "j", "u": seq, "s": seq, "p": seq})
    for seq in (1, 3, 2):
        client.xadd(events, {"e": "a", "u": seq, "s": seq, "t": 0})
    client.close()
    assert await check_invariants(bench_server) == [
        f"line {DEFAULT_LINE}: 1 admissions out of line order"
    ]


def test_the_pre_queue_is_admitted_in_draw_order_then_by_arrival() -> None:
    # Fans 7 and 8 joined before the opening (draw ranks), fans 9 and 10 after it.
    joins = [("7", "1", 0.6), ("8", "2", 0.2), ("9", "3", 3.0), ("10", "4", 4.0)]
    events = [{"e": "j", "u": u, "s": s, "p": str(p)} for u, s, p in joins]

    def admitted(*users: str) -> list[dict[str, str]]:
        seq = {u: s for u, s, _ in joins}
        return [{"e": "a", "u": u, "s": seq[u], "t": "0"} for u in users]

    assert admission_order(events + admitted("8", "7", "9", "10")) == []
    assert admission_order(events + admitted("7", "8", "9", "10")) == [
        "1 admissions out of line order"
    ]
    assert admission_order(events + admitted("8", "9", "7")) == ["1 admissions out of line order"]


def test_a_draw_out_of_its_seeds_order_or_with_a_fan_twice_is_caught() -> None:
    seed, fans = "abc", [11, 12, 13, 14]
    drawn = sorted(fans, key=lambda u: (draw_rank(seed, u), str(u)))
    assert draw_problems(seed, 4, ",".join(map(str, drawn))) == []
    assert draw_problems(seed, 4, ",".join(map(str, reversed(drawn)))) == [
        "the draw's order is not the one its seed gives"
    ]
    twice = [drawn[0], *drawn]
    assert "1 fans drawn more than once" in draw_problems(seed, 5, ",".join(map(str, twice)))
    assert draw_problems(seed, 3, ",".join(map(str, drawn))) == [
        "the draw lists 4 fans but records 3 entrants"
    ]


def test_bench_writes_has_its_own_help() -> None:
    result = subprocess.run(
        [BOXOFFICE, "bench", "writes", "--help"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "--connections" in result.stdout
    assert "writes" in result.stdout


def test_the_writes_smoke_run_measures_only_2xx_work_and_rewrites_its_section(
    tmp_path: Path, postgres_template: str
) -> None:
    report = tmp_path / "benchmarks.md"
    report.write_text(REPORT.read_text())
    run = subprocess.run(
        [
            *(sys.executable, "-m", "boxoffice_bench", "writes"),
            *("--seconds", "2", "--rounds", "1"),
            *("--postgres-url", POSTGRES_URL, "--redis-url", REDIS_URL, "--report", str(report)),
            *("--port", str(free_port())),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    # Non-zero when a measurement's answers were not all 2xx or an invariant broke.
    assert run.returncode == 0, run.stdout + run.stderr
    section = re.search(
        r"<!-- measured: writes -->\n(.*?)<!-- /measured: writes -->", report.read_text(), re.S
    )
    assert section is not None
    assert f"`boxoffice bench writes --report {report} --seconds 2 --rounds 1`" in section.group(1)
    rows = [
        [cell.strip() for cell in line.strip("|").split("|")]
        for line in section.group(1).splitlines()
        if line.startswith("| ") and not line.startswith("| endpoint ")
    ]
    measured = sorted((row[0], int(row[1])) for row in rows)
    assert measured == sorted((e.name, c) for e in ENDPOINTS for c in (16, 64))
    # Every one answered: 2xx counted, no other answer.
    assert all(int(row[6].replace(",", "")) > 0 and row[7] == "—" for row in rows)
    assert _prose(report.read_text()) == _prose(REPORT.read_text())
    assert "Invariants checked from storage afterwards: all hold." in section.group(1)
