"""Database URLs as each driver reads them. An operator writes one URL, libpq's way;
SQLAlchemy (migrations, tools, SQLite) and asyncpg (PostgreSQL's request path) each
get their own form of it, made here and nowhere else."""

from __future__ import annotations

from urllib.parse import urlsplit

from sqlalchemy.engine import make_url


def async_url(url: str) -> str:
    """SQLAlchemy's async driver for a plain ``sqlite://`` or ``postgresql://`` URL.
    Several hosts written libpq's way (``h1:p1,h2:p2``) become SQLAlchemy's
    (``?host=h1:p1&host=h2:p2``), the only form its URL parser reads."""
    parsed = make_url(_hosts_in_query(url))
    if parsed.drivername in ("sqlite", "sqlite+pysqlite"):
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    elif parsed.drivername in ("postgresql", "postgres", "postgresql+psycopg2"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    return parsed.render_as_string(hide_password=False)


def _hosts_in_query(url: str) -> str:
    parts = urlsplit(url)
    userinfo, at, hostlist = parts.netloc.rpartition("@")
    if not parts.scheme.startswith("postgres") or "," not in hostlist:
        return url
    # SQLAlchemy wants every host's port; libpq's default is 5432.
    hosts = [h if ":" in h else f"{h}:5432" for h in hostlist.split(",")]
    query = "&".join([*(f"host={h}" for h in hosts), *([parts.query] if parts.query else [])])
    return f"{parts.scheme}://{userinfo}{at}{parts.path}?{query}"


def postgres_dsn(url: str) -> str:
    """asyncpg's DSN for SQLAlchemy's URL: several hosts back in libpq's form."""
    parsed = make_url(url).set(drivername="postgresql")
    hosts = parsed.query.get("host")
    if not isinstance(hosts, tuple):
        return parsed.render_as_string(hide_password=False)
    rendered = parsed.difference_update_query(["host"]).render_as_string(hide_password=False)
    scheme, _, rest = rendered.partition("://")
    userinfo, _, path = rest.partition("/")
    return f"{scheme}://{userinfo}{','.join(hosts)}/{path}"
