"""A database URL naming several PostgreSQL hosts, libpq's way, reaches both drivers:
SQLAlchemy (migrations, tools) reads hosts only from its query string, asyncpg (the
request path) from the host list."""

from __future__ import annotations

import pytest
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg
from sqlalchemy.engine import make_url

from boxoffice.storage.urls import async_url, postgres_dsn

TWO_HOSTS = "postgresql://fan:p%40ss@db1:5432,db2:5433/sale?target_session_attrs=read-write"


def test_several_hosts_become_sqlalchemy_host_parameters() -> None:
    url = make_url(async_url(TWO_HOSTS))
    _, connect = PGDialect_asyncpg().create_connect_args(url)  # type: ignore[no-untyped-call]
    assert connect == {
        "database": "sale",
        "user": "fan",
        "password": "p@ss",
        "host": ["db1", "db2"],
        "port": [5432, 5433],
        "target_session_attrs": "read-write",
    }


def test_asyncpg_is_given_the_hosts_as_libpq_writes_them() -> None:
    assert postgres_dsn(async_url(TWO_HOSTS)) == TWO_HOSTS


def test_a_host_without_a_port_gets_postgresql_s_default() -> None:
    url = make_url(async_url("postgres://db1,db2:6000/sale"))
    assert url.query["host"] == ("db1:5432", "db2:6000")
    assert postgres_dsn(async_url("postgres://db1,db2:6000/sale")) == (
        "postgresql://db1:5432,db2:6000/sale"
    )


@pytest.mark.parametrize(
    ("given", "driver"),
    [
        ("postgresql://fan@db1:5432/sale", "postgresql://fan@db1:5432/sale"),
        ("sqlite:///boxoffice.db", "sqlite+aiosqlite:///boxoffice.db"),
    ],
)
def test_a_single_host_url_is_unchanged_but_for_the_driver(given: str, driver: str) -> None:
    assert async_url(given).replace("+asyncpg", "") == driver
