"""Statements written once, run the cheapest way each database allows.

A ``Query`` is a SQLAlchemy Core statement with named ``bindparam``s, built once at
import. On PostgreSQL it is compiled once to asyncpg's SQL and run on asyncpg's own
prepared statements (the text is its cache key): no per-execution compile, cache key,
execution context or result processing, which cost more than the statement's round
trip on the request path. On SQLite it runs through SQLAlchemy as any Core statement.
Repositories talk to a ``Conn``, which is either; both give rows by column name.

Storage errors come out classified (``boxoffice.storage.db``'s ``StorageError`` kinds), so the
rest of the code never looks at a driver's exception.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, cast

import asyncpg
from sqlalchemy import ClauseElement, Executable
from sqlalchemy.dialects.postgresql import asyncpg as asyncpg_dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.compiler import SQLCompiler

from boxoffice.storage.errors import classify

_POSTGRES = asyncpg_dialect.dialect()  # type: ignore[no-untyped-call]


class Row(Protocol):
    def __getitem__(self, key: str) -> Any: ...


class Query:
    """A statement and, once asked for, its PostgreSQL form. ``expanding`` queries
    (``IN`` a list given at call time) are compiled per call instead. A
    ``postgres_only`` one is written in what only PostgreSQL runs (a function of the
    schema that SQLite has not, say)."""

    __slots__ = ("_compiled", "_postgres", "expanding", "postgres_only", "statement")

    def __init__(
        self, statement: Executable, *, expanding: bool = False, postgres_only: bool = False
    ) -> None:
        self.statement = statement
        self.expanding = expanding
        self.postgres_only = postgres_only
        self._postgres: tuple[str, tuple[str, ...], dict[str, Any]] | None = None

    def for_postgres(self, params: Mapping[str, Any]) -> tuple[str, list[Any]]:
        """asyncpg's SQL and its positional arguments for ``params``."""
        if self._postgres is None:
            clause = cast(ClauseElement, self.statement)
            compiled = cast(SQLCompiler, clause.compile(dialect=_POSTGRES))
            self._compiled = compiled
            self._postgres = (str(compiled), tuple(compiled.positiontup or ()), compiled.params)
        if self.expanding:
            state = self._compiled.construct_expanded_state(dict(params))
            values = state.parameters
            return state.statement, [values[name] for name in state.positiontup or ()]
        sql, names, fixed = self._postgres
        return sql, [params[n] if n in params else fixed[n] for n in names]


class Conn(Protocol):
    """A connection in the caller's transaction (or none: each statement its own)."""

    # Whether one statement may change several tables (PostgreSQL's data-modifying
    # WITH); SQLite's may not.
    modifying_with: bool

    async def fetch(self, query: Query, **params: Any) -> list[Row]: ...

    async def fetchrow(self, query: Query, **params: Any) -> Row | None: ...

    async def fetchval(self, query: Query, **params: Any) -> Any: ...

    async def execute(self, query: Query, **params: Any) -> int:
        """Run it; how many rows it changed."""
        ...

    async def executemany(self, query: Query, rows: Sequence[Mapping[str, Any]]) -> None: ...


class PostgresConn:
    """A ``Conn`` on an asyncpg connection."""

    __slots__ = ("raw",)
    modifying_with = True

    def __init__(self, raw: asyncpg.Connection) -> None:
        self.raw = raw

    async def fetch(self, query: Query, **params: Any) -> list[Row]:
        sql, args = query.for_postgres(params)
        try:
            rows: list[Row] = await self.raw.fetch(sql, *args)
        except Exception as error:
            raise classify(error) from error
        return rows

    async def fetchrow(self, query: Query, **params: Any) -> Row | None:
        sql, args = query.for_postgres(params)
        try:
            row: Row | None = await self.raw.fetchrow(sql, *args)
        except Exception as error:
            raise classify(error) from error
        return row

    async def fetchval(self, query: Query, **params: Any) -> Any:
        sql, args = query.for_postgres(params)
        try:
            return await self.raw.fetchval(sql, *args)
        except Exception as error:
            raise classify(error) from error

    async def execute(self, query: Query, **params: Any) -> int:
        sql, args = query.for_postgres(params)
        try:
            status: str = await self.raw.execute(sql, *args)
        except Exception as error:
            raise classify(error) from error
        count = status.rpartition(" ")[2]
        return int(count) if count.isdigit() else 0

    async def executemany(self, query: Query, rows: Sequence[Mapping[str, Any]]) -> None:
        if not rows:
            return
        try:
            compiled = [query.for_postgres(row) for row in rows]
            await self.raw.executemany(compiled[0][0], [args for _, args in compiled])
        except Exception as error:
            raise classify(error) from error


class CoreConn:
    """A ``Conn`` on a SQLAlchemy connection (SQLite, and tools)."""

    __slots__ = ("modifying_with", "raw")

    def __init__(self, raw: AsyncConnection) -> None:
        self.raw = raw
        self.modifying_with = raw.dialect.name == "postgresql"

    async def fetch(self, query: Query, **params: Any) -> list[Row]:
        try:
            result = await self.raw.execute(query.statement, params)
        except (DBAPIError, PoolTimeout, OSError) as error:
            raise classify(error) from error
        return [row._mapping for row in result]

    async def fetchrow(self, query: Query, **params: Any) -> Row | None:
        rows = await self.fetch(query, **params)
        return rows[0] if rows else None

    async def fetchval(self, query: Query, **params: Any) -> Any:
        row = await self.fetchrow(query, **params)
        return None if row is None else next(iter(row.values()))  # type: ignore[attr-defined]

    async def execute(self, query: Query, **params: Any) -> int:
        try:
            result = await self.raw.execute(query.statement, params)
        except (DBAPIError, PoolTimeout, OSError) as error:
            raise classify(error) from error
        count: int = result.rowcount
        return count

    async def executemany(self, query: Query, rows: Sequence[Mapping[str, Any]]) -> None:
        if not rows:
            return
        try:
            await self.raw.execute(query.statement, list(rows))
        except (DBAPIError, PoolTimeout, OSError) as error:
            raise classify(error) from error
