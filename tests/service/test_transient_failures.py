"""Transient storage failures: retried a bounded number of times, then 503 busy."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection

from boxoffice.app import create_app
from boxoffice.catalog import service as catalog_service
from boxoffice.config import Settings
from boxoffice.db import Database
from tests.support import FakeClock, serve


class Deadlock(Exception):
    sqlstate = "40P01"


class Broken(Exception):
    sqlstate = "42601"


def _error(orig: Exception) -> DBAPIError:
    return OperationalError("UPDATE ...", {}, orig)


async def test_a_deadlocked_transaction_is_run_again(db: Database) -> None:
    attempts = 0

    async def work(_conn: AsyncConnection) -> str:
        nonlocal attempts
        attempts += 1
        if attempts < 3:
            raise _error(Deadlock())
        return "done"

    assert await db.run(work) == "done"
    assert attempts == 3


async def test_retries_are_bounded(db: Database) -> None:
    attempts = 0

    async def work(_conn: AsyncConnection) -> None:
        nonlocal attempts
        attempts += 1
        raise _error(Deadlock())

    with pytest.raises(DBAPIError):
        await db.run(work)
    assert attempts == db.retries + 1


async def test_a_real_error_is_not_retried(db: Database) -> None:
    attempts = 0

    async def work(_conn: AsyncConnection) -> None:
        nonlocal attempts
        attempts += 1
        raise _error(Broken())

    with pytest.raises(DBAPIError):
        await db.run(work)
    assert attempts == 1


async def test_an_unreachable_database_answers_503_busy_with_retry_after(
    make_settings: Callable[..., Settings], clock: FakeClock
) -> None:
    settings = make_settings(database_url="postgresql://postgres@127.0.0.1:1/nothing")
    async with serve(create_app(settings, clock=clock)) as client:
        r = await client.post("/api/v1/users", json={"name": "x"})
        assert r.status_code == 503
        assert r.json()["code"] == "busy"
        assert r.headers["Retry-After"] == "1"
        assert r.headers["content-type"] == "application/problem+json"
        ready = await client.get("/readyz")
        assert ready.status_code == 503


class BadValue(Exception):
    sqlstate = "22021"  # e.g. a NUL byte PostgreSQL cannot store


class BrokenConstraint(Exception):
    sqlstate = "23503"


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (DataError("INSERT ...", {}, BadValue()), 422, "validation_error"),
        (IntegrityError("INSERT ...", {}, BrokenConstraint()), 500, "internal_error"),
        (_error(Deadlock()), 503, "busy"),
        (PoolTimeout("QueuePool limit reached"), 503, "busy"),
    ],
    ids=["data", "integrity", "transient", "pool-timeout"],
)
async def test_only_storage_that_cannot_answer_is_busy(
    make_settings: Callable[..., Settings],
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
    error: Exception,
    status: int,
    code: str,
) -> None:
    async def failing(**_: object) -> None:
        raise error

    monkeypatch.setattr(catalog_service, "list_concerts", failing)
    async with serve(create_app(make_settings(), clock=clock)) as client:
        r = await client.get("/api/v1/concerts")
        assert (r.status_code, r.json()["code"]) == (status, code)
        assert ("retry-after" in r.headers) == (status == 503)
