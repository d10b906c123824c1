"""The ways into the database: a writing transaction, a retried unit of work, a read
with one snapshot, a single statement (the schema is in ``boxoffice.storage.tables``, the
statements in each domain's repository as ``boxoffice.storage.query.Query``).

PostgreSQL is reached through an asyncpg pool of our own, with every wait bounded, so
a database that does not answer (frozen, or cut off) is 503 busy within seconds: for a
pooled connection, to connect, and for each statement (the server's statement_timeout
cannot fire when it is not running). SQLite goes through SQLAlchemy's engine, every
writing transaction starting with ``BEGIN IMMEDIATE``: the database serialises
writers up front instead of failing a reader that later tries to write.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import asyncpg
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from boxoffice.config import Settings
from boxoffice.storage.errors import Transient, Unreachable, classify, from_driver
from boxoffice.storage.query import Conn, CoreConn, PostgresConn

T = TypeVar("T")
log = logging.getLogger("boxoffice")
DISPOSE_SECONDS = 5.0


def async_url(url: str) -> str:
    """SQLAlchemy's async driver for a plain ``sqlite://`` or ``postgresql://`` URL."""
    parsed = make_url(url)
    if parsed.drivername in ("sqlite", "sqlite+pysqlite"):
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    elif parsed.drivername in ("postgresql", "postgres", "postgresql+psycopg2"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    return parsed.render_as_string(hide_password=False)


def _postgres_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class Database:
    def __init__(
        self,
        url: str,
        *,
        busy_timeout_ms: int = 5_000,
        pool_size: int = 20,
        sqlite_writers: int = 1,
        statement_timeout_ms: int = 5_000,
        connect_timeout_ms: int = 2_000,
        pool_timeout_ms: int = 5_000,
        retries: int = 3,
    ) -> None:
        self.url = async_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        self.retries = retries
        self._pool_size = pool_size
        self._statement_timeout_ms = statement_timeout_ms
        self._connect_timeout = connect_timeout_ms / 1000
        self._pool_timeout = pool_timeout_ms / 1000
        self._pool: asyncpg.Pool | None = None
        self._pool_lock = asyncio.Lock()
        self._core: AsyncEngine | None = None
        if self.is_sqlite:
            self._core = create_async_engine(self.url, pool_size=pool_size, max_overflow=pool_size)
            _configure_sqlite(self._core, busy_timeout_ms)
            # SQLite admits one writer at a time whatever we do; writers beyond the
            # first would only sleep in its busy handler. Queueing them for a small
            # pool of connections is faster. Correctness does not rest on it: every
            # write is still guarded in SQL, as it must be on PostgreSQL.
            self._sqlite_writer = create_async_engine(
                self.url, pool_size=sqlite_writers, max_overflow=0, pool_timeout=60
            )
            _configure_sqlite(self._sqlite_writer, busy_timeout_ms)

    @property
    def core(self) -> AsyncEngine:
        """A SQLAlchemy engine on the same database, for tools and tests (the audit,
        migrations' checks), not for the request path."""
        if self._core is None:
            self._core = create_async_engine(self.url, pool_size=2, max_overflow=8)
        return self._core

    async def _postgres(self) -> asyncpg.Pool:
        if self._pool is None:
            async with self._pool_lock:
                if self._pool is None:
                    self._pool = await self._open_pool()
        return self._pool

    async def _open_pool(self) -> asyncpg.Pool:
        try:
            made = await asyncpg.create_pool(
                _postgres_dsn(self.url),
                min_size=1,
                max_size=self._pool_size,
                timeout=self._connect_timeout,
                command_timeout=self._statement_timeout_ms / 1000 + 1,
                server_settings={"statement_timeout": str(self._statement_timeout_ms)},
                reset=_session_kept,
            )
        except Exception as error:
            raise classify(error) from error
        assert made is not None
        return made

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[asyncpg.Connection]:
        pg = await self._postgres()
        try:
            # Bounded here rather than by ``acquire(timeout=...)``, which runs the wait
            # as a task of its own: a cost every request paid, whether it waited or not.
            async with asyncio.timeout(self._pool_timeout):
                raw = await pg.acquire()
        except Exception as error:
            raise classify(error) from error
        try:
            yield raw
        except Unreachable as error:
            if error.lost:
                # Never back into the pool: a connection the driver lost track of
                # would fail whoever is handed it next. And every pooled connection
                # may be as dead as this one.
                raw.terminate()
                await pg.expire_connections()
            raise
        finally:
            await pg.release(raw)

    @asynccontextmanager
    async def transaction(self, *, isolation: str = "read_committed") -> AsyncIterator[Conn]:
        """One use case's statements: committed together or not at all."""
        if self.is_sqlite:
            engine = self._sqlite_writer if isolation == "read_committed" else self.core
            options = {"boxoffice_write": isolation == "read_committed"}
            async with engine.execution_options(**options).begin() as core_conn:
                yield CoreConn(core_conn)
            return
        async with self._connection() as raw:
            tx = raw.transaction(isolation=isolation, readonly=isolation != "read_committed")
            try:
                await tx.start()
            except Exception as error:
                raise classify(error) from error
            try:
                yield PostgresConn(raw)
            except BaseException as error:
                if not raw.is_closed() and not _lost(error):
                    await tx.rollback()
                raise
            try:
                await tx.commit()
            except Exception as error:
                # Whether it committed is not known: never run again on this.
                raise Unreachable(f"the commit did not complete: {error!r}") from error

    async def run(self, work: Callable[[Conn], Awaitable[T]]) -> T:
        """``work`` in one transaction, run again (a bounded number of times) when the
        database rolled it back for a transient reason, or when a pooled connection
        had died before anything was committed (the database restarted)."""

        async def in_transaction() -> T:
            async with self.transaction() as conn:
                return await work(conn)

        return await self._retried(in_transaction, retry_lost=True)

    async def run_statement(self, work: Callable[[Conn], Awaitable[T]], *, retry_lost: bool) -> T:
        """``work`` whose every statement commits on its own (no transaction around
        them: no BEGIN, no COMMIT), for a write that is one statement. Run again when
        the database rolled it back for a transient reason; after a lost connection
        only when ``retry_lost``, since the statement may have committed before the
        connection went: when running it twice does no harm."""

        async def alone() -> T:
            async with self.statement() as conn:
                return await work(conn)

        return await self._retried(alone, retry_lost=retry_lost)

    async def _retried(self, attempt_once: Callable[[], Awaitable[T]], *, retry_lost: bool) -> T:
        for attempt in range(self.retries + 1):
            try:
                return await attempt_once()
            except Exception as raised:
                error = from_driver(raised)
                if error is None:
                    raise
                if isinstance(error, Transient) and attempt < self.retries:
                    await asyncio.sleep(0.01 * 2**attempt + random.random() * 0.01)
                    continue
                if _lost(error) and retry_lost and attempt == 0:
                    continue
                if error is raised:
                    raise
                raise error from raised
        raise AssertionError("unreachable")

    @asynccontextmanager
    async def read(self) -> AsyncIterator[Conn]:
        """A consistent snapshot for several reads; never takes the write lock."""
        async with self.transaction(isolation="repeatable_read") as conn:
            yield conn

    @asynccontextmanager
    async def statement(self) -> AsyncIterator[Conn]:
        """A connection for reads that need no snapshot beyond each statement (each is
        its own transaction): one round trip per statement, where ``read`` adds two."""
        if self.is_sqlite:
            async with self.core.connect() as core_conn:
                yield CoreConn(core_conn)
            return
        async with self._connection() as raw:
            yield PostgresConn(raw)

    @asynccontextmanager
    async def exclusive(self, name: str) -> AsyncIterator[None]:
        """Run a block in one process at a time across every instance sharing this
        database (a PostgreSQL advisory lock; SQLite's embedded shape is one process)."""
        if self.is_sqlite:
            yield
            return
        key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
        async with self._connection() as raw:
            await raw.execute("SELECT pg_advisory_lock($1)", key)
            try:
                yield
            finally:
                await raw.execute("SELECT pg_advisory_unlock($1)", key)

    async def ping(self) -> None:
        if self.is_sqlite:
            async with self.core.connect() as core_conn:
                await core_conn.execute(text("SELECT 1"))
            return
        async with self._connection() as raw:
            try:
                await raw.fetchval("SELECT 1")
            except Exception as error:
                raise classify(error) from error

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
        """Close every connection; one still in use after a few seconds is cut off, so
        a shutdown never waits on a request that will not finish."""
        if self._pool is not None:
            pg, self._pool = self._pool, None
            try:
                await asyncio.wait_for(pg.close(), timeout=DISPOSE_SECONDS)
            except TimeoutError:
                log.warning("database connections still in use at shutdown; closing them")
                pg.terminate()
        if self._core is not None:
            await self._core.dispose()
        if self.is_sqlite:
            await self._sqlite_writer.dispose()


def _lost(error: BaseException) -> bool:
    """Whether ``error`` says the connection is gone (nothing left to roll back on it)."""
    return isinstance(error, Unreachable) and error.lost


async def _session_kept(_connection: asyncpg.Connection) -> None:
    """What a connection goes back to the pool with: asyncpg rolls back a transaction
    left open, and this skips the rest of its reset (RESET ALL, UNLISTEN, CLOSE ALL: a
    round trip per request), because boxoffice leaves no session state behind."""


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
