"""``boxoffice serve | migrate | demo-data``, and the commands other installed
distributions add through the ``boxoffice.commands`` entry points."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from importlib.metadata import entry_points
from typing import Protocol

from pydantic import ValidationError

from boxoffice import migrations
from boxoffice.catalog.demo import load_demo, load_demo_if_empty
from boxoffice.clock import utcnow
from boxoffice.config import DEFAULT_ADMIN_TOKEN, Settings
from boxoffice.storage.db import Database

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


def cmd_migrate(settings: Settings) -> None:
    migrations.upgrade(settings.database_url)
    print("boxoffice: database is at the latest schema")


def cmd_demo_data(settings: Settings) -> None:
    migrations.upgrade(settings.database_url)
    created = asyncio.run(_demo(settings, only_if_empty=False))
    print(f"boxoffice: added {created} demo schedules")


def cmd_serve(settings: Settings, *, host: str, port: int, workers: int) -> None:
    from boxoffice.app import create_app, settle
    from boxoffice.http import server

    if workers > 1 and not settings.redis_url:
        sys.exit(
            "boxoffice: --workers above 1 needs BOXOFFICE_REDIS_URL: the in-process "
            "waiting room lives in one process, so several workers would each keep a "
            "line of their own"
        )
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
        server.run(settle(create_app(settings)), settings, host=host, port=port)
        return
    # Workers build their own Settings from the environment; they must all sign
    # tokens with one key, so a key made up here is handed down to them.
    os.environ["BOXOFFICE_SECRET_KEY"] = settings.secret_key
    server.run(server.WORKER_APP, settings, host=host, port=port, workers=workers)


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


def build_parser(installed: Mapping[str, Command]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="boxoffice", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="migrate, load the demo if empty, and serve")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument(
        "--workers", type=int, default=1, help="processes to serve with (above 1 needs Redis)"
    )
    commands.add_parser("migrate", help="bring the database to the latest schema")
    commands.add_parser("demo-data", help="add the demo concerts (again)")
    for name, command in installed.items():
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
