"""Every statement the repositories hold compiles for both databases: a mistake in one
(a bind parameter named like a column it sets, say) shows here, not on a request."""

from __future__ import annotations

import importlib
import pkgutil
from typing import cast

import pytest
from sqlalchemy import ClauseElement
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import asyncpg as _asyncpg  # noqa: F401
from sqlalchemy.sql.compiler import SQLCompiler

import boxoffice
from boxoffice.storage.query import Query


def _queries() -> list[tuple[str, Query]]:
    found = []
    for module in pkgutil.walk_packages(boxoffice.__path__, "boxoffice."):
        if not module.name.endswith(("repository", "_repository")):
            continue
        loaded = importlib.import_module(module.name)
        found += [
            (f"{module.name}.{name}", value)
            for name, value in vars(loaded).items()
            if isinstance(value, Query)
        ]
    return found


QUERIES = _queries()


def test_the_repositories_hold_their_statements_as_queries() -> None:
    assert len(QUERIES) > 40


@pytest.mark.parametrize(("name", "query"), QUERIES, ids=[name for name, _ in QUERIES])
def test_a_query_compiles_for_postgresql_and_sqlite_with_its_parameters(
    name: str, query: Query
) -> None:
    statement = query.statement
    assert isinstance(statement, ClauseElement)
    postgres = cast(
        SQLCompiler,
        statement.compile(dialect=postgresql.asyncpg.dialect()),  # type: ignore[no-untyped-call]
    )
    names = [n for n in postgres.positiontup or () if not n.endswith(tuple("_0123456789"))]
    if query.postgres_only:
        assert str(postgres)
        return
    # Executed with its parameters by name, as the repositories call it: a parameter
    # named like a column an INSERT or UPDATE sets is refused at this point.
    assert str(statement.compile(dialect=sqlite.dialect(), column_keys=names))
