"""The ways into the database: a writing transaction, a retried unit of work, a read
with one snapshot, a single statement (the schema is in ``boxoffice.storage.tables``, the
statements in each domain's repository as ``boxoffice.storage.query.Query``).

PostgreSQL is reached through an asyncpg pool of our own, with every wait bounded, so
a database that does not answer (frozen, or cut off) is 503 busy within seconds. Each
use of a connection (waiting for it, connecting, its statements, giving it back, and
the retries of one unit of work) runs against one deadline: bounds per step would add
up, and asyncpg's own give-back waits for a cancelled statement's cancellation, which a
frozen server never confirms. The server's own statement_timeout is set past that
deadline: it frees the locks of a client that gave up, and never cuts short a commit's
wait for a synchronous replica, which PostgreSQL answers as a success (the commit kept
on the primary alone) with only a warning.

A URL may name several hosts (libpq's ``h1:p1,h2:p2`` with
``target_session_attrs=read-write``): new connections go to whichever is the writable
primary, and a connection that finds its server read-only (demoted by a failover) is
dropped with every other pooled one.

SQLite goes through SQLAlchemy's engine, every writing transaction starting with
``BEGIN IMMEDIATE``: the database serialises writers up front instead of failing a
reader that later tries to write.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

import asyncpg
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from boxoffice.config import Settings
from boxoffice.storage.errors import Transient, Unreachable, classify, from_driver
from boxoffice.storage.query import Conn, CoreConn, PostgresConn
from boxoffice.storage.urls import async_url as async_url
from boxoffice.storage.urls import postgres_dsn

T = TypeVar("T")
log = logging.getLogger("boxoffice")
DISPOSE_SECONDS = 5.0
# One use of a connection ends this long past the longer of the pool wait and the
# statement timeout; the server's statement timeout as long again past that.
DEADLINE_MARGIN_SECONDS = 1.0
# Giving back a connection whose work is done, when the deadline has just passed.
GIVE_BACK_FLOOR_SECONDS = 0.5
# The deadline of the unit of work this task is running, with the task: a task it
# starts inherits the variable, not the deadline.
_deadline: ContextVar[tuple[asyncio.Task[Any] | None, float] | None] = ContextVar(
    "boxoffice_db_deadline", default=None
)


def _current_deadline() -> float | None:
    found = _deadline.get()
    if found is None or found[0] is not asyncio.current_task():
        return None
    return found[1]


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
        self.wait_bound = (
            max(pool_timeout_ms, statement_timeout_ms) / 1000 + DEADLINE_MARGIN_SECONDS
        )
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
            self._core = create_async_engine(
                self.url,
                pool_size=2,
                max_overflow=8,
                pool_timeout=self._pool_timeout,
                connect_args={
                    "timeout": self._connect_timeout,
                    "command_timeout": self._statement_timeout_ms / 1000,
                    "server_settings": {"statement_timeout": self._server_timeout()},
                },
            )
        return self._core

    def _server_timeout(self) -> str:
        """The server's statement_timeout (ms), past every wait of the client's."""
        return str(round((self.wait_bound + DEADLINE_MARGIN_SECONDS) * 1000))

    async def _postgres(self) -> asyncpg.Pool:
        if self._pool is None:
            async with self._pool_lock:
                if self._pool is None:
                    self._pool = await self._open_pool()
        return self._pool

    async def _open_pool(self) -> asyncpg.Pool:
        try:
            made = await asyncpg.create_pool(
                postgres_dsn(self.url),
                min_size=1,
                max_size=self._pool_size,
                timeout=self._connect_timeout,
                command_timeout=self._statement_timeout_ms / 1000,
                server_settings={"statement_timeout": self._server_timeout()},
                reset=_session_kept,
            )
        except Exception as error:
            raise classify(error) from error
        assert made is not None
        return made

    @asynccontextmanager
    async def _connection(self, *, bound_use: bool = True) -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection, waited for, used and given back before one deadline
        (shared by every attempt of a retried unit of work); ``bound_use=False`` leaves
        what the caller does with it unbounded (a lock held across other work).

        A connection whose use failed for want of an answer, or was cancelled, is cut
        off rather than given back: giving it back would first wait for asyncpg to
        cancel its statement, which a frozen server never confirms."""
        loop = asyncio.get_running_loop()
        deadline = _current_deadline() or loop.time() + self.wait_bound
        try:
            # Bounded here rather than by ``acquire(timeout=...)``, which runs the wait
            # as a task of its own: a cost every request paid, whether it waited or not.
            async with asyncio.timeout_at(min(deadline, loop.time() + self._pool_timeout)):
                pg = await self._postgres()
                raw = await pg.acquire()
        except Exception as error:
            raise classify(error) from error
        try:
            if bound_use:
                async with asyncio.timeout_at(deadline):
                    yield raw
            else:
                yield raw
        except BaseException as error:
            failed = from_driver(error) if isinstance(error, Exception) else None
            if not isinstance(error, Exception) or isinstance(failed, Unreachable):
                _cut_off(raw)
            if isinstance(failed, Unreachable) and failed.lost:
                # Every pooled connection may be as dead (or as read-only) as this one.
                await pg.expire_connections()
            if isinstance(error, TimeoutError) and loop.time() >= deadline:
                raise Unreachable(
                    f"the database did not answer within {self.wait_bound:.1f} s"
                ) from error
            raise
        finally:
            await _give_back(pg, raw, max(deadline - loop.time(), GIVE_BACK_FLOOR_SECONDS))

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
                if _answering(raw, error):
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
        """Every attempt within the first one's deadline: a retry never adds a wait."""
        if self.is_sqlite or _current_deadline() is not None:
            return await self._attempts(attempt_once, retry_lost=retry_lost)
        deadline = asyncio.get_running_loop().time() + self.wait_bound
        token = _deadline.set((asyncio.current_task(), deadline))
        try:
            return await self._attempts(attempt_once, retry_lost=retry_lost)
        finally:
            _deadline.reset(token)

    async def _attempts(self, attempt_once: Callable[[], Awaitable[T]], *, retry_lost: bool) -> T:
        # Every way out is a return or a raise (the retry after a lost connection is
        # one more than ``retries``, which may be 0).
        for attempt in itertools.count():
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
        raise AssertionError("itertools.count() ended")

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
        async with self._connection(bound_use=False) as raw:
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


def _answering(raw: asyncpg.Connection, error: BaseException) -> bool:
    """Whether a transaction that ended in ``error`` can be rolled back on its
    connection: not when the server did not answer (nor when the wait for it was
    cancelled), since the rollback would wait on it too; the connection is cut off
    instead, which rolls back on the server."""
    if raw.is_closed() or not isinstance(error, Exception):
        return False
    return not isinstance(from_driver(error), Unreachable)


def _cut_off(raw: asyncpg.Connection) -> None:
    """Closed at once; one the driver already closed (and handed back to the pool,
    as it does with a connection the server dropped) is left as it is."""
    with contextlib.suppress(asyncpg.InterfaceError):
        raw.terminate()


async def _give_back(pg: asyncpg.Pool, raw: asyncpg.Connection, seconds: float) -> None:
    """Back to the pool, waiting at most ``seconds``: the work is done by now, so a
    give-back that does not finish (asyncpg then cuts the connection) fails nothing."""
    try:
        await pg.release(raw, timeout=seconds)
    except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
        log.debug("a database connection was cut off instead of given back: %r", error)


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
