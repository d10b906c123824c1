"""How ``boxoffice serve`` runs an app under uvicorn, with the limits uvicorn leaves open.

uvicorn bounds the body by nothing, the request head by nothing (with httptools),
and the time a head may take to arrive by nothing, and it never closes a connection
that opens and sends nothing: each of those let one client hold memory or a file
descriptor for as long as it likes. ``LimitedHttpToolsProtocol`` adds the missing
bounds to uvicorn's httptools protocol; the body limit is the app's own
(``boxoffice.limits``), so it holds under any server.

``run`` also binds the listening socket before the app starts: a port already taken
then fails at once, before the app has started anything that has to stop again.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import resource
import socket
import sys
import threading
import time
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import httptools
import uvicorn
from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.config import STARTUP_FAILURE
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState
from uvicorn.supervisors import Multiprocess

from boxoffice.config import Settings
from boxoffice.errors import DomainError, HeadersTooLarge
from boxoffice.limits import install_limits
from boxoffice.problems import error_response

log = logging.getLogger("boxoffice")

GRACEFUL_SHUTDOWN_SECONDS = 30
# The app's own startup and shutdown (connect storage, start and stop the background
# tasks) take well under a second. Past these the process is stuck, and a supervisor
# is better served by an exit it can act on than by a process that never serves.
STARTUP_DEADLINE_SECONDS = 30.0
SHUTDOWN_DEADLINE_SECONDS = 10.0
# File descriptors kept for what is not a client: database and Redis pools (sized
# from the settings on top of this), the listening socket, logs, pipes.
RESERVED_FILES = 64
WORKER_APP = "boxoffice.server:worker_app"
# After refusing a head, how long to go on reading (and dropping) what the client still
# sends before closing, as nginx does: closing with its bytes unread would answer them
# with a reset, and the client's system would drop the refusal before it is read.
LINGER_SECONDS = 2.0


@dataclass(frozen=True)
class ConnectionLimits:
    max_header_bytes: int
    max_headers: int
    header_timeout: float
    max_connections: int


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, bounded:

    - a request head must arrive whole within ``header_timeout`` of its first byte
      (for a new connection: of the connection opening), or the connection is closed;
    - a head past ``max_header_bytes`` or ``max_headers`` is answered 431 and the
      connection closed, after reading at most one socket read beyond the limit;
    - a connection past ``max_connections`` open ones is closed as soon as it is
      accepted.

    An idle connection between requests is closed by uvicorn's own keep-alive timeout.
    """

    _warned_full_at: ClassVar[float] = float("-inf")

    def __init__(
        self,
        config: uvicorn.Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        limits: ConnectionLimits,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.limits = limits
        self._head_timer: asyncio.TimerHandle | None = None
        self._reading_head = True
        self._head_bytes = 0
        self._heads_begun = 0
        self._lingering: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        full = len(self.connections) >= self.limits.max_connections
        super().connection_made(transport)
        if full:
            self._warn_full()
            transport.close()
            return
        self._start_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        if self._lingering is not None:
            self._lingering.cancel()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        # uvicorn's own, but for telling a head refused here from a malformed one, and
        # for counting the bytes of a head that is still arriving: a single endless
        # header would otherwise grow in the parser's buffer until the timeout.
        if self._lingering is not None:
            return
        self._unset_keepalive_if_required()
        counting = self._reading_head
        if counting:
            self._start_head_timer()
        heads_begun = self._heads_begun
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            if isinstance(exc.__context__, HeadersTooLarge):
                self._refuse(exc.__context__)
                return
            msg = "Invalid HTTP request received."
            self.logger.warning(msg)
            self.send_400_response(msg)
            return
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        if counting and self._reading_head and heads_begun == self._heads_begun:
            # The same head before and after: all of ``data`` belongs to it.
            self._head_bytes += len(data)
            if self._head_bytes > self.limits.max_header_bytes:
                self._refuse(self._too_large())

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._heads_begun += 1
        self._head_bytes = 0

    def on_headers_complete(self) -> None:
        self._reading_head = False
        self._stop_head_timer()
        size = len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)
        if size > self.limits.max_header_bytes or len(self.headers) > self.limits.max_headers:
            # Raised inside the parser, which stops and hands it to data_received.
            raise self._too_large()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._reading_head = True

    def _too_large(self) -> HeadersTooLarge:
        return HeadersTooLarge(
            f"the request line and headers may be at most {self.limits.max_header_bytes} "
            f"bytes and {self.limits.max_headers} headers"
        )

    def _refuse(self, error: DomainError) -> None:
        """Answer ``error`` and end the connection: no more writing, and the rest of
        what the client sends is dropped until it closes or ``LINGER_SECONDS`` pass."""
        self._stop_head_timer()
        self.transport.write(_raw_problem(error, self.server_state.default_headers))
        if not self.transport.can_write_eof():
            self.transport.close()
            return
        self.transport.write_eof()
        self._lingering = self.loop.call_later(LINGER_SECONDS, self.transport.close)

    def _start_head_timer(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(
                self.limits.header_timeout, self._head_timed_out
            )

    def _stop_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing():
            self.transport.close()

    def _warn_full(self) -> None:
        now = time.monotonic()
        if now - LimitedHttpToolsProtocol._warned_full_at >= 10:
            LimitedHttpToolsProtocol._warned_full_at = now
            log.warning(
                "%d connections open, the most allowed: closing new ones as they come "
                "(BOXOFFICE_MAX_CONNECTIONS)",
                self.limits.max_connections,
            )


def _raw_problem(error: DomainError, default_headers: list[tuple[bytes, bytes]]) -> bytes:
    """A whole problem response, for the protocol to write before any app has run."""
    response = error_response(error)
    lines = [STATUS_LINE[response.status_code]]
    for name, value in [*default_headers, *response.raw_headers, (b"connection", b"close")]:
        lines.append(name + b": " + value + b"\r\n")
    return b"".join([*lines, b"\r\n", response.body])


def connection_limits(settings: Settings) -> ConnectionLimits:
    return ConnectionLimits(
        max_header_bytes=settings.max_header_bytes,
        max_headers=settings.max_headers,
        header_timeout=settings.header_timeout_seconds,
        max_connections=settings.max_connections,
    )


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
        # boxoffice writes its own, cheaper, access log (boxoffice.access_log).
        access_log=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        **options,
    )


def run(app: FastAPI | str, settings: Settings, *, host: str, port: int, workers: int = 1) -> None:
    """Serve ``app`` until SIGTERM or SIGINT, then finish the requests in flight (up to
    ``GRACEFUL_SHUTDOWN_SECONDS``). ``app`` is an app, served in this process, or for
    ``workers`` above 1 the import string of a factory each worker calls (as
    ``WORKER_APP``). Exits non-zero if the port cannot be bound, if the app fails to
    start, or if its startup or shutdown hangs."""
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
    sock = _listen(host, port)
    log.info("serving on http://%s:%d", host, sock.getsockname()[1])
    if workers > 1:
        Multiprocess(config, sockets=[sock]).run()
        return
    server = uvicorn.Server(config)
    server.run(sockets=[sock])
    if not server.started:
        sys.exit(STARTUP_FAILURE)


def worker_app() -> ASGIApp:
    """The app of one worker started by ``run(WORKER_APP, ..., workers=N)``."""
    from boxoffice.app import create_app, settle

    settings = Settings()
    return LifespanDeadlines(install_limits(settle(create_app(settings)), settings))


def _listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound before the app starts. IPPROTO_TCP is named so
    asyncio turns on TCP_NODELAY for the connections it accepts."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        sys.exit(f"boxoffice: cannot listen on {host}:{port}: {exc.strerror or exc}")
    sock.set_inheritable(True)
    return sock


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
