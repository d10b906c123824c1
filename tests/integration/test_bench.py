"""The benchmark's ticket drop on a small crowd: it must sell out and find every
invariant holding when it reads storage back."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from redis import Redis

from boxoffice.bench.drop import check_invariants, run_drop
from boxoffice.bench.server import BenchServer
from tests.conftest import POSTGRES_URL, REDIS_URL
from tests.integration.instances import free_port


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
    client = Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=server.prefix + "*"))
    if keys:
        client.delete(*keys)
    client.close()


def test_a_small_drop_sells_out_with_every_invariant_holding(bench_server: BenchServer) -> None:
    result = run_drop(bench_server, fans=150, rate=100, schedules=1, seats_per_schedule=50)
    assert result.violations == []
    assert result.stats.bought == 50
    assert result.stats.errors == 0
    assert result.stats.latencies["pay"]


async def test_the_invariant_check_catches_an_admission_out_of_order(
    bench_server: BenchServer,
) -> None:
    client = Redis.from_url(REDIS_URL)
    for seq in (1, 3, 2):
        client.xadd(bench_server.prefix + "events", {"e": "a", "u": seq, "s": seq, "t": 0})
    client.close()
    assert await check_invariants(bench_server) == ["1 admissions out of arrival order"]
