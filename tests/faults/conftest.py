"""Fixtures of the fault suite: a PostgreSQL cluster and a Redis of its own, two real
``boxoffice serve`` processes on them, and the per-scenario record for the report."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tests.faults.harness import fault_env
from tests.faults.services import PostgresCluster, RedisServer
from tests.integration.instances import Instance

REPORT_ENV = "BOXOFFICE_FAULT_REPORT"
OUTCOME = pytest.StashKey[str]()
Launch = Callable[..., dict[str, Instance]]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.when == "call" or report.failed:
        item.stash[OUTCOME] = report.outcome
    return report


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    cluster = PostgresCluster()
    cluster.init()
    cluster.start()
    yield cluster
    cluster.destroy()


async def _admin(cluster: PostgresCluster, sql: str) -> None:
    conn = await asyncpg.connect(cluster.url("postgres"))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture
def fault_database(postgres_cluster: PostgresCluster) -> Iterator[str]:
    """A fresh database on the suite's cluster; the instances migrate it themselves."""
    postgres_cluster.ensure_running()
    name = f"faults_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(postgres_cluster, f"CREATE DATABASE {name}"))
    yield postgres_cluster.url(name)
    postgres_cluster.ensure_running()
    asyncio.run(_admin(postgres_cluster, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    workdir = tmp_path / "redis"
    workdir.mkdir()
    server = RedisServer(workdir)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def launch(
    tmp_path: Path,
    fault_database: str,
    redis_server: RedisServer,
    postgres_cluster: PostgresCluster,
) -> Iterator[Launch]:
    """Start instances ``a`` and ``b`` together (they race to migrate); ``b_env`` is
    added to b's environment only. Stopped afterwards, with storage thawed first so
    a failed scenario never leaves a shutdown waiting on a frozen server."""
    started: list[Instance] = []

    def start_pair(*, b_env: dict[str, str] | None = None, **settings: str) -> dict[str, Instance]:
        env = fault_env(database_url=fault_database, redis_url=redis_server.url, **settings)
        pair = {
            "a": Instance(env, tmp_path, "a"),
            "b": Instance({**env, **(b_env or {})}, tmp_path, "b"),
        }
        for instance in pair.values():
            instance.start()
            started.append(instance)
        for instance in pair.values():
            instance.wait_ready()
        return pair

    yield start_pair
    postgres_cluster.thaw()
    redis_server.thaw()
    for instance in started:
        instance.stop()


@pytest.fixture
def fault_record(request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    """What the scenario measured; appended as one JSON line to the file that
    ``BOXOFFICE_FAULT_REPORT`` names, and written nowhere when it is unset."""
    record: dict[str, Any] = {"scenario": request.node.name}
    yield record
    path = os.environ.get(REPORT_ENV)
    if path:
        record["outcome"] = request.node.stash.get(OUTCOME, "error")
        with Path(path).open("a") as out:
            out.write(json.dumps(record, default=str) + "\n")
