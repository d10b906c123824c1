"""Engines and transactions (the schema is in ``boxoffice.tables``).

On SQLite every writing transaction starts with ``BEGIN IMMEDIATE``: the database
serialises writers up front instead of failing a reader that later tries to write.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from boxoffice.config import Settings


def async_url(url: str) -> str:
    """Pick the async driver for a plain ``sqlite://`` or ``postgresql://`` URL."""
    parsed = make_url(url)
    if parsed.drivername in ("sqlite", "sqlite+pysqlite"):
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    elif parsed.drivername in ("postgresql", "postgres", "postgresql+psycopg2"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    return parsed.render_as_string(hide_password=False)


# SQLSTATEs after which PostgreSQL has rolled the transaction back, so running the
# whole use case again is safe.
_RETRYABLE_SQLSTATES = frozenset({"40001", "40P01", "55P03"})
T = TypeVar("T")


def is_retryable(error: DBAPIError) -> bool:
    sqlstate = getattr(error.orig, "sqlstate", None) or getattr(error.orig, "pgcode", None)
    if sqlstate in _RETRYABLE_SQLSTATES:
        return True
    # SQLite's "database is locked" comes back before anything was written.
    return "database is locked" in str(error.orig)


class Database:
    """The engines plus the ways in: a writing transaction, a retried unit of work,
    and a read."""

    def __init__(
        self,
        url: str,
        *,
        busy_timeout_ms: int = 5_000,
        pool_size: int = 10,
        sqlite_writers: int = 1,
        statement_timeout_ms: int = 5_000,
        connect_timeout_ms: int = 2_000,
        pool_timeout_ms: int = 5_000,
        retries: int = 3,
    ) -> None:
        self.url = async_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        self.retries = retries
        if self.is_sqlite:
            self.engine: AsyncEngine = create_async_engine(
                self.url, pool_size=pool_size, max_overflow=pool_size
            )
            _configure_sqlite(self.engine, busy_timeout_ms)
            # SQLite admits one writer at a time whatever we do; writers beyond the
            # first would only sleep in its busy handler. Queueing them for a small
            # pool of connections is faster. Correctness does not rest on it: every
            # write is still guarded in SQL, as it must be on PostgreSQL.
            self._write_engine = create_async_engine(
                self.url, pool_size=sqlite_writers, max_overflow=0, pool_timeout=60
            )
            _configure_sqlite(self._write_engine, busy_timeout_ms)
            self._reader = self.engine
        else:
            # Every wait is bounded, so a PostgreSQL that does not answer (frozen, or
            # cut off by the network) is 503 busy within seconds, not a hung request:
            # for a pooled connection, to connect, and for each statement's answer
            # (the server's own statement_timeout cannot fire when it is not running).
            self.engine = create_async_engine(
                self.url,
                pool_size=pool_size,
                max_overflow=pool_size,
                pool_pre_ping=True,
                pool_timeout=pool_timeout_ms / 1000,
                connect_args={
                    "server_settings": {"statement_timeout": str(int(statement_timeout_ms))},
                    "timeout": connect_timeout_ms / 1000,
                    "command_timeout": statement_timeout_ms / 1000 + 1,
                },
            )
            self._write_engine = self.engine
            # Reads that span several statements see one snapshot.
            self._reader = self.engine.execution_options(isolation_level="REPEATABLE READ")
        self._writer = self._write_engine.execution_options(boxoffice_write=True)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """One use case's writes: committed together or not at all."""
        async with self._writer.begin() as conn:
            yield conn

    async def run(self, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """``work`` in one transaction, run again (a bounded number of times) when the
        database rolled it back for a transient reason such as a deadlock."""
        for attempt in range(self.retries + 1):
            try:
                async with self.transaction() as conn:
                    return await work(conn)
            except DBAPIError as error:
                if attempt == self.retries or not is_retryable(error):
                    raise
                await asyncio.sleep(0.01 * 2**attempt + random.random() * 0.01)
        raise AssertionError("unreachable")

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A consistent snapshot for reads; never takes the write lock."""
        async with self._reader.begin() as conn:
            yield conn

    @asynccontextmanager
    async def exclusive(self, name: str) -> AsyncIterator[None]:
        """Run a block in one process at a time across every instance sharing this
        database (a PostgreSQL advisory lock; SQLite's embedded shape is one process)."""
        if self.is_sqlite:
            yield
            return
        key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
            await conn.commit()
            try:
                yield
            finally:
                await conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                await conn.commit()

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        return cls(
            settings.database_url,
            busy_timeout_ms=settings.sqlite_busy_timeout_ms,
            pool_size=settings.db_pool_size,
            statement_timeout_ms=settings.db_statement_timeout_ms,
            connect_timeout_ms=settings.db_connect_timeout_ms,
            pool_timeout_ms=settings.db_pool_timeout_ms,
            retries=settings.db_retries,
        )

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self._write_engine is not self.engine:
            await self._write_engine.dispose()


def _configure_sqlite(engine: AsyncEngine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take BEGIN out of the driver's hands so the "begin" hook below decides it.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        write = conn.get_execution_options().get("boxoffice_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")
