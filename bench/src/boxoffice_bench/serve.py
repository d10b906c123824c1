"""The server a benchmark measures: boxoffice exactly as ``boxoffice serve`` builds it,
plus ``GET /bench/ceiling``, the bare endpoint the hot path is compared against.

The ceiling is the barest FastAPI endpoint there is (declared on the app itself, no
dependencies, a constant body shaped like a status poll) and the first route tried,
so what it measures is the framework and the server alone. The product knows
nothing of it.

``python -m boxoffice_bench.serve [--port P]`` migrates and serves in this process, as
``boxoffice serve`` does; granian starts ``boxoffice_bench.serve:app_from_env``."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from fastapi import FastAPI, Request, Response

from boxoffice import migrations
from boxoffice.app import create_app, settle
from boxoffice.config import Settings
from boxoffice.http.routing import DirectRoute
from boxoffice.http.schemas import json_response
from boxoffice.http.server import run as run_server

CEILING_PATH = "/bench/ceiling"
CEILING_BODY = {
    "token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9." + "x" * 150 + ".signature-signature-signat",
    "status": "WAITING",
    "position": 1234,
    "estimatedWaitSeconds": 120,
    "pollAfterSeconds": 15,
    "expiresAt": "2026-12-24T19:00:00.123456Z",
}
# As `boxoffice serve` stops (cli.py).


async def ceiling(_request: Request) -> Response:
    """What the server and the app's fastest lane alone cost: a status-shaped answer
    with no work behind it."""
    return json_response(CEILING_BODY)


def with_ceiling(app: FastAPI) -> FastAPI:
    """``app`` with the ceiling route in front of every other route."""
    route = DirectRoute(CEILING_PATH, ceiling, methods=["GET"], include_in_schema=False)
    app.router.routes.insert(0, route)
    return app


def bench_app(settings: Settings) -> FastAPI:
    return settle(with_ceiling(create_app(settings)))


def app_from_env() -> FastAPI:
    """The app factory for servers that build the app in their own worker (granian)."""
    return bench_app(Settings())


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m boxoffice_bench.serve", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument(
        "--migrate-only", action="store_true", help="bring the database to the latest schema"
    )
    args = parser.parse_args(argv)
    settings = Settings()
    migrations.upgrade(settings.database_url)
    if args.migrate_only:
        return
    # The way `boxoffice serve` runs an app: the same server, limits and deadlines.
    run_server(bench_app(settings), settings, host=args.host, port=args.port)


if __name__ == "__main__":
    main()
