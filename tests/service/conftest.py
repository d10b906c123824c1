"""Fixtures of the service tests that run on PostgreSQL alone."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from boxoffice.storage.db import Database
from tests.integration.redis_cluster import redis_cluster_url

__all__ = ["redis_cluster_url"]  # the fixture, for the stores' contract on a cluster


@pytest.fixture
async def pg(postgres_url: str) -> AsyncIterator[Database]:
    """A database of this test's own on PostgreSQL, whatever shape the others run on:
    for what only PostgreSQL does (statements shared by the requests of one moment)."""
    db = Database(postgres_url)
    try:
        yield db
    finally:
        await db.dispose()
