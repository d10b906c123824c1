"""Fixtures. Every API, race and storage test runs in both deployment shapes:
``embedded`` (SQLite + the in-process waiting room) and ``production``
(PostgreSQL + the Redis waiting room). PostgreSQL and Redis are required: a test
that needs one fails when it is unreachable; nothing is skipped."""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from redis import Redis

from boxoffice import migrations
from boxoffice.app import create_app
from boxoffice.config import Settings
from boxoffice.storage.db import Database
from tests.support import ADMIN_TOKEN, SECRET_KEY, Api, FakeClock, RedisLineClock, serve

POSTGRES_URL = os.environ.get(
    "BOXOFFICE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("BOXOFFICE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
BACKENDS = ("embedded", "production")


def _with_database(url: str, name: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(POSTGRES_URL)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    """A database migrated once; each test gets a copy made by CREATE DATABASE … TEMPLATE."""
    name = f"boxoffice_tpl_{os.getpid()}"
    try:
        asyncio.run(_admin(f"DROP DATABASE IF EXISTS {name}"))
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.fail(f"PostgreSQL is required at {POSTGRES_URL} and is not reachable: {exc}")
    asyncio.run(_admin(f"CREATE DATABASE {name}"))
    migrations.upgrade(_with_database(POSTGRES_URL, name))
    yield name
    asyncio.run(_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


@pytest.fixture
def postgres_url(postgres_template: str) -> Iterator[str]:
    name = f"boxoffice_t_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(f"CREATE DATABASE {name} TEMPLATE {postgres_template}"))
    yield _with_database(POSTGRES_URL, name)
    asyncio.run(_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One SQLite file migrated once; each test gets a copy (cheaper than migrating)."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    migrations.upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture
def sqlite_url(migrated_template: Path, tmp_path: Path) -> str:
    path = tmp_path / "boxoffice.db"
    shutil.copy(migrated_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key space of this test's own in the shared Redis, removed afterwards."""
    prefix = f"boxoffice-test:{uuid.uuid4().hex[:12]}:"
    client = Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except OSError as exc:
        pytest.fail(f"Redis is required at {REDIS_URL} and is not reachable: {exc}")
    yield prefix
    keys = list(client.scan_iter(match=prefix + "*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest) -> str:
    fixture = "sqlite_url" if backend == "embedded" else "postgres_url"
    return str(request.getfixturevalue(fixture))


@pytest.fixture
def queue_settings(backend: str, request: pytest.FixtureRequest) -> dict[str, Any]:
    if backend == "embedded":
        return {"redis_url": None}
    # Status polls go to Redis itself here, so a test that moves the clock sees the
    # line move on its next request; the mirror has tests of its own. The lines run on
    # the test's clock, as the in-process store does.
    prefix = request.getfixturevalue("redis_prefix")
    request.getfixturevalue("clock").follow(RedisLineClock(REDIS_URL, prefix))
    return {"redis_url": REDIS_URL, "redis_prefix": prefix, "queue_status_mirror": False}


LIFTED = "1000000/second"
SUITE_LIMITS = {
    "signups_per_address": LIFTED,
    "signins_per_address": LIFTED,
    "joins_per_address": LIFTED,
    "joins_per_account": LIFTED,
    "admin_failures_per_address": LIFTED,
    "polls_per_token": LIFTED,
}


@pytest.fixture
def make_settings(database_url: str, queue_settings: dict[str, Any]) -> Callable[..., Settings]:
    def build(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "database_url": database_url,
            "secret_key": SECRET_KEY,
            "admin_token": ADMIN_TOKEN,
            "load_demo_data": False,
            "admission_capacity": 1000,
            "admission_per_minute": 100_000,
            "seat_map_cache_ms": 0,
            # The tests' fans are guests (POST /users), in both shapes.
            "guest_signup": True,
            # ...all from 127.0.0.1, many to a test, polling as fast as the test runs:
            # the edge limits are lifted out of their way (tests/api/test_rate_limits.py
            # puts each back); the failed sign-ins keep their defaults.
            **SUITE_LIMITS,
            # Every fan of a test comes from 127.0.0.1: no cap on places per address
            # but in the tests of the cap.
            "places_per_address": 0,
            **queue_settings,
        }
        values.update(overrides)
        return Settings(**values)

    return build


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


@pytest.fixture
async def api(settings: Settings, clock: FakeClock) -> AsyncIterator[Api]:
    async with serve(create_app(settings, clock=clock)) as client:
        yield Api(client, clock)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    yield database
    await database.dispose()
