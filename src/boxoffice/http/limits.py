"""What one request may send: a body limit and a deadline for the body, as ASGI middleware.

The request head (its size, how long it may take to arrive) and idle connections are
the HTTP server's to bound, before any of this runs: see ``boxoffice.http.server``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from boxoffice.config import Settings
from boxoffice.errors import DomainError, PayloadTooLarge, RequestTimedOut
from boxoffice.http.problems import error_response

DISCONNECT: Message = {"type": "http.disconnect"}
UNKNOWN_LENGTH = -1


class RequestLimits:
    """Refuses a body longer than ``max_body_bytes`` (413) or slower to arrive than
    ``body_timeout`` seconds after its head (408), and closes the connection.

    A declared ``Content-Length`` past the limit is answered at once: the app never
    runs and no byte of the body is read. A body of unknown length (chunked) is
    counted as the app reads it and cut off where it passes the limit. Either way the
    app then sees the client gone, and whatever it still answers is dropped for the
    problem already sent. A request without a body passes untouched."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, body_timeout: float) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.body_timeout = body_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = _announced_length(scope["headers"])
        if length == 0:
            await self.app(scope, receive, send)
            return
        if length > self.max_body_bytes:
            await _send_problem(send, self._too_large())
            return
        body = _BoundedBody(
            receive,
            send,
            max_bytes=self.max_body_bytes,
            deadline=asyncio.get_running_loop().time() + self.body_timeout,
            timeout=self.body_timeout,
        )
        try:
            await self.app(scope, body.receive, body.send)
        except Exception:
            # An endpoint reading the body itself may fail on the disconnect it was
            # handed; the client already has its answer.
            if not body.refused:
                raise

    def _too_large(self) -> PayloadTooLarge:
        return PayloadTooLarge(f"a request body may be at most {self.max_body_bytes} bytes")


class _BoundedBody:
    """One request's body, passed on until it is too large or too late; then the
    client is answered with the problem and the app sees a disconnect."""

    def __init__(
        self, receive: Receive, send: Send, *, max_bytes: int, deadline: float, timeout: float
    ) -> None:
        self._receive, self._send = receive, send
        self._max, self._deadline, self._timeout = max_bytes, deadline, timeout
        self._received = 0
        self._complete = self.refused = self._started = False

    async def _refuse(self, error: DomainError) -> Message:
        self.refused = True
        if not self._started:
            await _send_problem(self._send, error)
        return DISCONNECT

    async def receive(self) -> Message:
        if self.refused:
            return DISCONNECT
        if self._complete:
            # The body is in: this waits for the client to go away, for as long as the
            # response takes.
            return await self._receive()
        try:
            async with asyncio.timeout_at(self._deadline):
                message = await self._receive()
        except TimeoutError:
            return await self._refuse(
                RequestTimedOut(f"the body did not arrive within {self._timeout:g} s")
            )
        if message["type"] == "http.request":
            self._received += len(message.get("body", b""))
            if self._received > self._max:
                return await self._refuse(
                    PayloadTooLarge(f"a request body may be at most {self._max} bytes")
                )
            self._complete = not message.get("more_body", False)
        return message

    async def send(self, message: Message) -> None:
        if self.refused:
            return
        if message["type"] == "http.response.start":
            self._started = True
        await self._send(message)


def install_limits(app: FastAPI, settings: Settings) -> FastAPI:
    """Put ``RequestLimits`` with the configured limits on ``app``, once."""
    installed: object = RequestLimits
    if not any(m.cls is installed for m in app.user_middleware):
        app.add_middleware(
            RequestLimits,
            max_body_bytes=settings.max_body_bytes,
            body_timeout=settings.body_timeout_seconds,
        )
    return app


def _announced_length(headers: Iterable[tuple[bytes, bytes]]) -> int:
    """The body's declared length: 0 when there is no body, ``UNKNOWN_LENGTH`` when it
    is chunked. The HTTP server has already refused malformed or conflicting framing."""
    length = 0
    for name, value in headers:
        if name == b"transfer-encoding":
            return UNKNOWN_LENGTH
        if name == b"content-length":
            length = int(value) if value.isdigit() else UNKNOWN_LENGTH
    return length


async def _send_problem(send: Send, error: DomainError) -> None:
    response = error_response(error)
    await send(
        {
            "type": "http.response.start",
            "status": response.status_code,
            "headers": [*response.raw_headers, (b"connection", b"close")],
        }
    )
    await send({"type": "http.response.body", "body": response.body})
