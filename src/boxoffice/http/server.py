"""How ``boxoffice serve`` runs an app under uvicorn, with the limits uvicorn leaves open.

uvicorn bounds the body, the request head and its arrival by nothing, and keeps a
connection that sends nothing for ever. ``boxoffice.http.protocol`` adds the missing
bounds to uvicorn's httptools protocol; the body limit is the app's own
(``boxoffice.http.limits``), so it holds under any server.

``run`` also binds the listening socket before the app starts (``boxoffice serve``
binds it with ``listen`` before it even migrates): a port already taken then fails at
once, before anything has started that has to stop again.

Several workers are several processes, each counting its own requests: ``run`` gives
them a folder of their own in ``PROMETHEUS_MULTIPROC_DIR`` for their metrics
(``boxoffice.metrics``), tells the Prometheus client of each worker that ends, and
removes the folder when the last one has.

uvicorn's own reading of ``X-Forwarded-For`` is off: the app finds the client's
address itself (``boxoffice.http.client_address``, ``TRUSTED_PROXIES``).

uvloop's libuv accepts one connection per turn of the event loop (libuv 1.45 on), and
a turn of a busy server can take tens of milliseconds: at a line's opening, with a
whole pre-queue polling at once, hundreds of new connections waited up to 2 s in the
kernel's accept queue, unread, while the requests on open connections were answered
within a millisecond. ``run`` therefore listens through ``ACCEPTS_PER_TURN``
descriptors of the one socket, each of which accepts a connection a turn.
"""

from __future__ import annotations

import functools
import logging
import os
import resource
import shutil
import socket
import sys
import tempfile
import threading
from dataclasses import replace
from typing import Any

import uvicorn
from fastapi import FastAPI
from prometheus_client.multiprocess import mark_process_dead
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess

from boxoffice.config import Settings
from boxoffice.http.limits import install_limits
from boxoffice.http.protocol import ConnectionLimits, LimitedHttpToolsProtocol, connection_limits
from boxoffice.metrics import MULTIPROCESS_DIR

log = logging.getLogger("boxoffice")

GRACEFUL_SHUTDOWN_SECONDS = 30
# The app's own startup and shutdown (connect storage, start and stop the background
# tasks) take well under a second. Past these the process is stuck, and a supervisor
# is better served by an exit it can act on than by a process that never serves.
STARTUP_DEADLINE_SECONDS = 30.0
SHUTDOWN_DEADLINE_SECONDS = 10.0
# Connections a busy event loop accepts per turn (see the module's docstring); a turn
# with fewer waiting costs the rest one failed accept() each.
ACCEPTS_PER_TURN = 32
# File descriptors kept for what is not a client: database and Redis pools (sized
# from the settings on top of this), the listening socket's descriptors, logs, pipes.
RESERVED_FILES = 64 + ACCEPTS_PER_TURN
WORKER_APP = "boxoffice.http.server:worker_app"


def uvicorn_config(
    app: ASGIApp | str,
    settings: Settings,
    *,
    limits: ConnectionLimits | None = None,
    **options: Any,
) -> uvicorn.Config:
    """uvicorn's configuration with the connection limits (by default those of
    ``settings``) and timeouts; ``options`` are passed on (host, port, workers...)."""
    protocol = functools.partial(
        LimitedHttpToolsProtocol, limits=limits or connection_limits(settings)
    )
    return uvicorn.Config(
        app,
        http=protocol,  # type: ignore[arg-type]
        # boxoffice serves no WebSocket: an upgrade is answered as plain HTTP.
        ws="none",
        timeout_keep_alive=settings.keep_alive_seconds,
        # boxoffice writes its own, cheaper, access log (boxoffice.http.access_log).
        access_log=False,
        # The client's address is boxoffice.http.client_address's to find, from
        # TRUSTED_PROXIES alone: uvicorn would otherwise believe X-Forwarded-For from
        # any peer in FORWARDED_ALLOW_IPS (127.0.0.1 by default).
        proxy_headers=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        **options,
    )


def run(
    app: FastAPI | str,
    settings: Settings,
    *,
    host: str,
    port: int,
    workers: int = 1,
    sock: socket.socket | None = None,
) -> None:
    """Serve ``app`` until SIGTERM or SIGINT, then finish the requests in flight (up to
    ``GRACEFUL_SHUTDOWN_SECONDS``). ``app`` is an app, served in this process, or for
    ``workers`` above 1 the import string of a factory each worker calls (as
    ``WORKER_APP``). ``sock`` is the socket ``listen(host, port)`` bound, if bound
    already. Exits non-zero if the port cannot be bound, if the app fails to start,
    or if its startup or shutdown hangs."""
    if isinstance(app, FastAPI):
        if workers > 1:
            raise ValueError("several workers each build their app: pass a factory's name")
        served: ASGIApp | str = LifespanDeadlines(install_limits(app, settings))
    else:
        served = app
    limits = connection_limits(settings)
    limits = replace(limits, max_connections=_fit_open_files(limits.max_connections, settings))
    config = uvicorn_config(
        served,
        settings,
        limits=limits,
        host=host,
        port=port,
        workers=workers,
        factory=isinstance(served, str),
        log_level="info",
    )
    sock = sock or listen(host, port)
    log.info("serving on http://%s:%d", host, sock.getsockname()[1])
    sockets = listeners(sock)
    if workers > 1:
        metrics_dir = tempfile.mkdtemp(prefix="boxoffice-metrics-")
        os.environ[MULTIPROCESS_DIR] = metrics_dir  # before the workers start, who read it
        try:
            Workers(config, sockets=sockets, metrics_dir=metrics_dir).run()
        finally:
            shutil.rmtree(metrics_dir, ignore_errors=True)
        return
    server = uvicorn.Server(config)
    server.run(sockets=sockets)
    if not server.started:
        sys.exit(STARTUP_FAILURE)


def worker_app() -> ASGIApp:
    """The app of one worker started by ``run(WORKER_APP, ..., workers=N)``."""
    from boxoffice.app import create_app, settle

    settings = Settings()
    return LifespanDeadlines(install_limits(settle(create_app(settings)), settings))


def listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound before the app starts; exits with one line saying
    why if it cannot be. IPPROTO_TCP is named so asyncio turns on TCP_NODELAY for the
    connections it accepts."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except (OSError, OverflowError) as exc:
        sock.close()
        reason = getattr(exc, "strerror", None) or exc
        sys.exit(f"boxoffice: cannot listen on {host}:{port}: {reason}")
    sock.set_inheritable(True)
    return sock


def listeners(sock: socket.socket, count: int = ACCEPTS_PER_TURN) -> list[socket.socket]:
    """``sock`` and ``count - 1`` duplicates of it: one listening socket (one port, one
    accept queue) that the event loop watches ``count`` times, accepting from each."""
    return [sock, *(sock.dup() for _ in range(count - 1))]


class Workers(Multiprocess):
    """uvicorn's supervisor of several workers, which also tells the Prometheus client
    of each worker that has ended (died, restarted, or retired by SIGHUP or SIGTTOU):
    its live gauges leave ``/metrics``, its counts stay in the sums."""

    def __init__(self, config: uvicorn.Config, sockets: list[socket.socket], metrics_dir: str):
        super().__init__(config, sockets)
        self.metrics_dir = metrics_dir
        self._serving: set[int] = set()

    def handle_signals(self) -> None:
        super().handle_signals()
        self._forget_ended()

    def keep_subprocess_alive(self) -> None:
        super().keep_subprocess_alive()
        self._forget_ended()

    def _forget_ended(self) -> None:
        serving = {p.pid for p in self.processes if p.pid is not None and p.exitcode is None}
        for pid in self._serving - serving:
            mark_process_dead(pid, self.metrics_dir)  # type: ignore[no-untyped-call]
        self._serving = serving


def _fit_open_files(max_connections: int, settings: Settings) -> int:
    """Raise this process's open-file limit to hold ``max_connections`` clients and the
    storage pools, as far as the hard limit allows; if it cannot, the number of
    connections that fits (said in the log), so that a flood of clients still leaves
    descriptors for the database and Redis. Worker processes inherit the limit."""
    reserved = RESERVED_FILES + 2 * settings.db_pool_size + settings.redis_pool_size
    wanted = max_connections + reserved
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= wanted:
        return max_connections
    soft = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    if soft >= wanted:
        return max_connections
    fitting = max(1, soft - reserved)
    log.warning(
        "the open-file limit is %d: serving at most %d connections, not %d "
        "(raise the hard limit, e.g. LimitNOFILE in systemd)",
        soft,
        fitting,
        max_connections,
    )
    return fitting


class LifespanDeadlines:
    """Ends the process (exit status 3) when the app's startup has not finished within
    ``STARTUP_DEADLINE_SECONDS``, or when it is still alive ``SHUTDOWN_DEADLINE_SECONDS``
    after the app's startup failed or its shutdown began.

    uvicorn waits for the app's shutdown however long it takes, and ignores signals
    meanwhile; a background task that never ends would keep a process that no longer
    serves from ever exiting. Only the lifespan passes through here."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return
        starting = _exit_after(STARTUP_DEADLINE_SECONDS, "the app did not finish starting")

        async def watched_receive() -> Message:
            message = await receive()
            if message["type"] == "lifespan.shutdown":
                _exit_after(SHUTDOWN_DEADLINE_SECONDS, "the app did not finish shutting down")
            return message

        async def watched_send(message: Message) -> None:
            if message["type"].startswith("lifespan.startup."):
                starting.cancel()
            if message["type"] == "lifespan.startup.failed":
                _exit_after(SHUTDOWN_DEADLINE_SECONDS, "the app failed to start and is stuck")
            await send(message)

        try:
            await self.app(scope, watched_receive, watched_send)
        except BaseException:
            starting.cancel()
            _exit_after(SHUTDOWN_DEADLINE_SECONDS, "the app's lifespan failed and is stuck")
            raise


def _exit_after(seconds: float, reason: str) -> threading.Timer:
    """A timer that ends the process unless it has ended first. A thread, because it
    must fire even if the event loop never gets back to it."""

    def give_up() -> None:
        print(f"boxoffice: {reason} within {seconds:g} s; exiting", file=sys.stderr, flush=True)
        os._exit(STARTUP_FAILURE)

    timer = threading.Timer(seconds, give_up)
    timer.daemon = True
    timer.start()
    return timer
