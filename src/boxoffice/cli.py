"""``boxoffice serve | migrate | demo-data``, and the commands other installed
distributions add through the ``boxoffice.commands`` entry points.

An operator's ordinary mistakes (a database that is down or missing, a folder that is
not there, a port out of range or taken, a malformed URL) end the command with one
line on stderr saying what to fix, and a non-zero status: never a traceback."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from importlib.metadata import entry_points, version
from pathlib import Path
from typing import NoReturn, Protocol
from urllib.parse import urlsplit

from pydantic import ValidationError
from redis.asyncio.connection import parse_url
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError

from boxoffice import migrations
from boxoffice.catalog.demo import load_demo, load_demo_if_empty
from boxoffice.clock import utcnow
from boxoffice.config import DEFAULT_ADMIN_TOKEN, Settings
from boxoffice.storage.db import Database
from boxoffice.storage.urls import async_url

log = logging.getLogger("boxoffice")

COMMANDS_GROUP = "boxoffice.commands"
BUILT_IN = ("serve", "migrate", "demo-data")


class Command(Protocol):
    """A command another distribution adds: registered in the ``boxoffice.commands``
    entry-point group under its name, loading to an object of this shape. That is all
    boxoffice knows of it, so boxoffice never imports the code behind it."""

    help: str

    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace) -> None: ...


def _settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        # Leave the input out: it may hold a database password or a secret key.
        problems = "\n".join(
            f"- {'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}"
            for e in exc.errors(include_input=False)
        )
        sys.exit(f"boxoffice: bad configuration:\n{problems}")


async def _demo(settings: Settings, *, only_if_empty: bool) -> int:
    db = Database.from_settings(settings)
    try:
        loader = load_demo_if_empty if only_if_empty else load_demo
        return await loader(db=db, now=utcnow())
    finally:
        await db.dispose()


@contextmanager
def _database_errors(url: str) -> Iterator[None]:
    """Turn the database's refusals, while a command works on it, into one line on
    stderr saying what to fix. The URL is shown without its password."""
    missing = _missing_folder(url)
    if missing:
        # Said before any connection is tried: the SQLite driver's thread, failing to
        # open the file, could otherwise print its own traceback as the process exits.
        sys.exit(missing)
    try:
        yield
    except DBAPIError as exc:
        sys.exit(_database_refusal(url, exc))
    except OSError as exc:  # refused, unknown host, timed out: PostgreSQL's socket
        reason = os.strerror(exc.errno) if exc.errno and exc.errno > 0 else exc.strerror
        reason = reason or type(exc).__name__
        sys.exit(
            f"boxoffice: cannot reach the database at {_shown(url)} ({reason}): "
            "is it running there? Set BOXOFFICE_DATABASE_URL to where it runs"
        )


def _missing_folder(url: str) -> str | None:
    """The line to exit with when a SQLite file's folder does not exist."""
    parsed = _parsed(url)
    if not parsed.drivername.startswith("sqlite") or parsed.database in (None, "", ":memory:"):
        return None
    path = Path(parsed.database or "")
    if path.parent.is_dir():
        return None
    return (
        f"boxoffice: cannot create the SQLite database {path}: the folder "
        f"{path.parent} does not exist; create it, or set BOXOFFICE_DATABASE_URL "
        "to a path in a folder that does"
    )


def _database_refusal(url: str, exc: DBAPIError) -> str:
    parsed = _parsed(url)
    reason = str(exc.orig).splitlines()[0] if exc.orig is not None else type(exc).__name__
    if parsed.drivername.startswith("sqlite"):
        path = Path(parsed.database or "")
        missing = _missing_folder(url)
        if missing:
            return missing
        return (
            f"boxoffice: cannot open the SQLite database {path} ({reason}): "
            "check the file's and its folder's permissions"
        )
    if getattr(exc.orig, "sqlstate", None) == "3D000":  # invalid_catalog_name
        return (
            f"boxoffice: {reason} ({_shown(url)}): create it "
            f"(createdb {parsed.database}), or fix BOXOFFICE_DATABASE_URL"
        )
    return (
        f"boxoffice: the database at {_shown(url)} refused: {reason}; check BOXOFFICE_DATABASE_URL"
    )


def _parsed(url: str) -> URL:
    """SQLAlchemy's reading of the URL as the operator wrote it, several hosts
    (libpq's ``h1:p1,h2:p2``) included, which its own parser refuses."""
    return make_url(async_url(url)).set(drivername=urlsplit(url).scheme)


def _shown(url: str) -> str:
    return _parsed(url).render_as_string(hide_password=True)


def _check_redis_url(url: str) -> None:
    try:
        parse_url(url)
    except ValueError as exc:
        # The URL stays out: it may hold a password.
        sys.exit(
            f"boxoffice: BOXOFFICE_REDIS_URL is not a Redis URL ({exc}): "
            "e.g. redis://127.0.0.1:6379/0"
        )


def cmd_migrate(settings: Settings) -> None:
    with _database_errors(settings.database_url):
        migrations.upgrade(settings.database_url)
    print("boxoffice: database is at the latest schema")


def cmd_demo_data(settings: Settings) -> None:
    with _database_errors(settings.database_url):
        migrations.upgrade(settings.database_url)
        created = asyncio.run(_demo(settings, only_if_empty=False))
    print(f"boxoffice: added {created} demo schedules")


def cmd_serve(settings: Settings, *, host: str, port: int, workers: int) -> None:
    from boxoffice.app import create_app, settle
    from boxoffice.http import server

    if workers > 1 and not settings.uses_redis:
        sys.exit(
            "boxoffice: --workers above 1 needs BOXOFFICE_REDIS_URL (or the sentinels, "
            "BOXOFFICE_REDIS_SENTINELS): the in-process "
            "waiting room lives in one process, so several workers would each keep a "
            "line of their own"
        )
    if settings.redis_url:
        _check_redis_url(settings.redis_url)
    # Bound first: a port already taken fails before a database is created or migrated.
    sock = server.listen(host, port)
    with _database_errors(settings.database_url):
        migrations.upgrade(settings.database_url)
        if settings.load_demo_data:
            created = asyncio.run(_demo(settings, only_if_empty=True))
            if created:
                print(f"boxoffice: empty catalog, loaded {created} demo schedules")
    if settings.admin_token == DEFAULT_ADMIN_TOKEN:
        print(
            "boxoffice: using the default admin token; set BOXOFFICE_ADMIN_TOKEN "
            "before exposing this server"
        )
    if workers == 1:
        server.run(settle(create_app(settings)), settings, host=host, port=port, sock=sock)
        return
    # Workers build their own Settings from the environment; they must all sign
    # tokens with one key, so a key made up here is handed down to them.
    os.environ["BOXOFFICE_SECRET_KEY"] = settings.secret_key
    server.run(server.WORKER_APP, settings, host=host, port=port, workers=workers, sock=sock)


def installed_commands(argv: Sequence[str]) -> dict[str, Command]:
    """The installed commands a command line needs: none for a built-in one (so
    ``boxoffice serve`` loads nothing else), the one it names, or every one of them for
    the help or beside a name that is no command."""
    if argv and argv[0] in BUILT_IN:
        return {}
    found = {ep.name: ep for ep in entry_points(group=COMMANDS_GROUP) if ep.name not in BUILT_IN}
    if argv and argv[0] in found:
        found = {argv[0]: found[argv[0]]}
    return {name: found[name].load() for name in sorted(found)}


class _Parser(argparse.ArgumentParser):
    """A parser whose complaint is one line, pointing at the help."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port: ports go from 0 to 65535")
    return port


def build_parser(installed: Mapping[str, Command]) -> argparse.ArgumentParser:
    shows_defaults = argparse.ArgumentDefaultsHelpFormatter
    parser = _Parser(prog="boxoffice", description=__doc__, formatter_class=shows_defaults)
    parser.add_argument("--version", action="version", version=f"%(prog)s {version('boxoffice')}")
    commands = parser.add_subparsers(dest="command", required=True)

    def add(name: str, summary: str) -> argparse.ArgumentParser:
        return commands.add_parser(
            name, help=summary, description=summary, formatter_class=shows_defaults
        )

    serve = add("serve", "migrate, load the demo if empty, and serve")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on")
    serve.add_argument("--port", type=_port, default=8000, help="port to listen on")
    serve.add_argument(
        "--workers", type=int, default=1, help="processes to serve with (above 1 needs Redis)"
    )
    add("migrate", "bring the database to the latest schema")
    add("demo-data", "add the demo concerts (again)")
    for name, command in installed.items():
        # Its help is its own, defaults and all: no formatter of ours.
        command.add_arguments(commands.add_parser(name, help=command.help))
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else list(argv)
    installed = installed_commands(argv)
    parser = build_parser(installed)
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.command in installed:
        installed[args.command].run(args)
        return
    settings = _settings()
    if args.command == "serve":
        if args.workers < 1:
            parser.error("--workers must be at least 1")
        cmd_serve(settings, host=args.host, port=args.port, workers=args.workers)
    elif args.command == "migrate":
        cmd_migrate(settings)
    else:
        cmd_demo_data(settings)


if __name__ == "__main__":
    main()
