"""uvicorn's httptools protocol with the bounds uvicorn leaves open: how long a request
head may take, how large it may be, how many connections a process holds.

uvicorn bounds the request head by nothing (with httptools), and the time a head may
take to arrive by nothing, and it never closes a connection that opens and sends
nothing: each of those let one client hold memory or a file descriptor for as long
as it likes.

It also writes each answer's head and body in one system call (``_HeadWithBody``)
where uvicorn makes two: on the benchmark machine about a tenth of a bare endpoint's
time (docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any, ClassVar

import httptools
import uvicorn
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState

from boxoffice.clock import SERVED_DATE
from boxoffice.config import Settings
from boxoffice.errors import DomainError, HeadersTooLarge
from boxoffice.http.problems import error_response

log = logging.getLogger("boxoffice")

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
        self._in_head = False  # between a head's first byte and its end
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
                return
        if self._in_head:
            # Timed from the read its first bytes came in (not before parsing them: a
            # head that arrives whole, as nearly all do, never starts a timer).
            self._start_head_timer()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._heads_begun += 1
        self._head_bytes = 0
        self._in_head = True

    def on_headers_complete(self) -> None:
        self._reading_head = False
        self._in_head = False
        self._stop_head_timer()
        size = len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)
        if size > self.limits.max_header_bytes or len(self.headers) > self.limits.max_headers:
            # Raised inside the parser, which stops and hands it to data_received.
            raise self._too_large()
        self._date_from_app_clock()
        super().on_headers_complete()
        # The answer to a HEAD has no body: uvicorn writes its head and nothing after
        # it, so a held head would never be sent.
        if self.cycle is not None and self.cycle.scope["method"] != "HEAD":
            self.cycle.transport = _HeadWithBody(self.transport, self.cycle)  # type: ignore[assignment]

    def _date_from_app_clock(self) -> None:
        """uvicorn stamps every answer with the host's time (its ``default_headers``,
        date first, remade each second); boxoffice's is the storage's."""
        headers = self.server_state.default_headers
        date = (b"date", SERVED_DATE.header())
        if headers and headers[0][0] == b"date" and headers[0] != date:
            self.server_state.default_headers = [date, *headers[1:]]

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


class _HeadWithBody:
    """A response's transport that sends the response head together with the first
    write after it: one system call per answer where uvicorn makes two (the head, then
    the body). Anything written before the response starts (``100 Continue``) goes
    out at once, and a close sends what is held first. Not for an answer to HEAD,
    which has no write after its head."""

    __slots__ = ("_cycle", "_head", "_transport")

    def __init__(self, transport: asyncio.Transport, cycle: Any) -> None:
        self._transport = transport
        self._cycle = cycle
        self._head: bytes | None = None

    def write(self, data: bytes) -> None:
        if self._head is None and self._cycle.response_started:
            self._head = data
            self._cycle = None  # held once: every later write goes straight out
            return
        if self._head:
            data, self._head = self._head + data, b""
        self._transport.write(data)

    def close(self) -> None:
        if self._head:
            self._transport.write(self._head)
            self._head = b""
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


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
