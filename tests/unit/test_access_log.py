"""The access log: a line per request, the same as uvicorn's with the time taken,
written in batches rather than one handler call per request."""

from __future__ import annotations

import asyncio
import io

from starlette.types import Message, Receive, Scope, Send

from boxoffice.http import access_log
from boxoffice.http.access_log import AccessLog
from boxoffice.http.timing import TimedRequests


async def _answer(status: int) -> tuple[AccessLog, io.StringIO]:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    async def send(_message: Message) -> None:
        return None

    stream = io.StringIO()
    log = AccessLog(stream)
    middleware = TimedRequests(app, [log])
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/api/v1/queue/status",
        "query_string": b"x=1",
        "http_version": "1.1",
        "client": ("10.0.0.7", 5123),
    }
    await middleware(scope, receive, send)
    return log, stream


async def test_a_request_is_written_a_moment_later_in_uvicorns_words() -> None:
    _, stream = await _answer(404)
    assert stream.getvalue() == ""  # not yet: lines go out in batches
    await asyncio.sleep(access_log.FLUSH_SECONDS * 2)
    line = stream.getvalue()
    assert line.startswith('INFO:     10.0.0.7:5123 - "GET /api/v1/queue/status?x=1 HTTP/1.1" 404 ')
    assert line.endswith("ms\n")


async def test_a_full_buffer_is_written_at_once() -> None:
    log, stream = await _answer(200)
    for _ in range(access_log.FLUSH_LINES):
        log({"method": "GET", "path": "/x"}, 200, 0.001)
    assert stream.getvalue().count("\n") >= access_log.FLUSH_LINES
