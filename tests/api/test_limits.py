"""What one client may send or hold open, over real sockets against the real server:
the app under uvicorn with the protocol and limits ``boxoffice serve`` uses."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
import uvicorn
from starlette.types import Receive, Scope, Send
from uvicorn.server import ServerState

from boxoffice.app import create_app
from boxoffice.config import Settings
from boxoffice.http.limits import install_limits
from boxoffice.http.protocol import LimitedHttpToolsProtocol, connection_limits
from boxoffice.http.server import uvicorn_config
from tests.support import ADMIN_TOKEN, SECRET_KEY, eventually

# Every read in these tests is bounded, so a server that never answers fails the test
# instead of hanging it; none of the answers expected takes more than a second.
HANG = 30.0

Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


@pytest.fixture
def limited(sqlite_url: str) -> Callable[..., Settings]:
    def build(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "database_url": sqlite_url,
            "secret_key": SECRET_KEY,
            "admin_token": ADMIN_TOKEN,
            "load_demo_data": False,
            "max_body_bytes": 4096,
            "max_header_bytes": 4096,
            "max_headers": 20,
            **overrides,
        }
        return Settings(**values)

    return build


@asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[int]:
    """The app on a loopback port under uvicorn configured as ``boxoffice serve`` does."""
    app = install_limits(create_app(settings), settings)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn_config(app, settings, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.005)
    try:
        yield int(sock.getsockname()[1])
    finally:
        server.should_exit = True
        await task
        sock.close()


@asynccontextmanager
async def connection(port: int) -> AsyncIterator[Connection]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        yield reader, writer
    finally:
        writer.close()


def head(method: str, path: str, *headers: str) -> bytes:
    return "\r\n".join([f"{method} {path} HTTP/1.1", "Host: boxoffice", *headers, "", ""]).encode()


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    raw = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HANG)
    status_line, *lines = raw.decode("latin-1").split("\r\n")[:-2]
    headers = dict(line.lower().split(": ", 1) for line in lines)
    body = await asyncio.wait_for(reader.readexactly(int(headers["content-length"])), HANG)
    return int(status_line.split()[1]), headers, body


async def closed(reader: asyncio.StreamReader) -> bool:
    """Whether the server ends the connection (at once, or after a timeout of its own)."""
    try:
        return await asyncio.wait_for(reader.read(65536), HANG) == b""
    except ConnectionResetError:
        return True


def problem(body: bytes) -> str:
    document = json.loads(body)
    assert set(document) == {"type", "title", "status", "detail", "code"}
    return str(document["code"])


async def test_a_body_declared_too_large_is_refused_before_any_of_it_is_sent(
    limited: Callable[..., Settings],
) -> None:
    async with serving(limited()) as port, connection(port) as (reader, writer):
        writer.write(
            head(
                "POST",
                "/api/v1/users",
                "Content-Type: application/json",
                "Content-Length: 300000000",
            )
        )
        # Not one byte of the body goes out: the answer cannot have waited for it.
        status, headers, body = await read_response(reader)
        assert status == 413
        assert headers["content-type"] == "application/problem+json"
        assert headers["connection"] == "close"
        assert problem(body) == "payload_too_large"
        assert await closed(reader)


async def test_a_chunked_body_is_cut_off_once_it_passes_the_limit(
    limited: Callable[..., Settings],
) -> None:
    async with serving(limited()) as port, connection(port) as (reader, writer):
        writer.write(
            head(
                "POST",
                "/api/v1/users",
                "Content-Type: application/json",
                "Transfer-Encoding: chunked",
            )
        )
        chunk = b"x" * 1000
        for _ in range(5):  # 5,000 bytes, past the 4,096 allowed; the body never ends
            writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        await writer.drain()
        status, _, body = await read_response(reader)
        assert status == 413
        assert problem(body) == "payload_too_large"
        assert await closed(reader)


async def test_bodies_within_the_limit_are_served_whether_declared_or_chunked(
    limited: Callable[..., Settings],
) -> None:
    document = json.dumps({"name": "x" * 100}).encode()
    async with serving(limited()) as port, connection(port) as (reader, writer):
        writer.write(
            head(
                "POST",
                "/api/v1/users",
                "Content-Type: application/json",
                f"Content-Length: {len(document)}",
            )
            + document
        )
        status, _, _ = await read_response(reader)
        assert status == 201
        writer.write(
            head(
                "POST",
                "/api/v1/users",
                "Content-Type: application/json",
                "Transfer-Encoding: chunked",
            )
            + b"%x\r\n%s\r\n0\r\n\r\n" % (len(document), document)
        )
        status, _, _ = await read_response(reader)
        assert status == 201


async def test_a_body_that_stops_arriving_is_answered_408_and_closed(
    limited: Callable[..., Settings],
) -> None:
    async with serving(limited(body_timeout_seconds=0.3)) as port, connection(port) as conn:
        reader, writer = conn
        writer.write(
            head("POST", "/api/v1/users", "Content-Type: application/json", "Content-Length: 50")
            + b'{"name": '
        )
        status, _, body = await read_response(reader)
        assert status == 408
        assert problem(body) == "request_timeout"
        assert await closed(reader)


async def test_a_one_megabyte_header_is_answered_431_and_closed(
    limited: Callable[..., Settings],
) -> None:
    async with serving(limited()) as port, connection(port) as (reader, writer):
        writer.write(head("GET", "/healthz", "X-Padding: " + "a" * 1_000_000))
        status, headers, body = await read_response(reader)
        assert status == 431
        assert headers["connection"] == "close"
        assert problem(body) == "headers_too_large"
        assert await closed(reader)


async def test_a_header_sent_slowly_past_the_limit_is_refused_before_it_ends(
    limited: Callable[..., Settings],
) -> None:
    """A single endless header, trickled in: refused once it passes the limit, not
    buffered until the head ends."""
    async with serving(limited()) as port, connection(port) as (reader, writer):
        writer.write(head("GET", "/healthz")[:-2] + b"X-Padding: ")
        for _ in range(6):  # 6,000 bytes in six sends; the header never ends
            await writer.drain()
            await asyncio.sleep(0.01)
            writer.write(b"a" * 1000)
        status, _, body = await read_response(reader)
        assert status == 431
        assert problem(body) == "headers_too_large"


async def test_too_many_headers_are_answered_431(limited: Callable[..., Settings]) -> None:
    async with serving(limited()) as port, connection(port) as (reader, writer):
        writer.write(head("GET", "/healthz", *(f"X-H{i}: 1" for i in range(21))))
        status, _, body = await read_response(reader)
        assert status == 431
        assert problem(body) == "headers_too_large"


async def test_heads_within_the_limits_are_served(limited: Callable[..., Settings]) -> None:
    async with serving(limited()) as port, connection(port) as (reader, writer):
        writer.write(head("GET", "/healthz", *(f"X-H{i}: {'a' * 150}" for i in range(19))))
        status, _, _ = await read_response(reader)
        assert status == 200


async def test_a_half_sent_head_is_closed_after_the_header_timeout(
    limited: Callable[..., Settings],
) -> None:
    async with serving(limited(header_timeout_seconds=0.3)) as port:
        async with connection(port) as (reader, writer):
            writer.write(head("GET", "/healthz")[:-2])  # the blank line never comes
            assert await closed(reader)
        async with connection(port) as (reader, writer):
            writer.write(head("GET", "/healthz"))
            status, _, _ = await read_response(reader)
            assert status == 200


async def test_a_connection_that_never_sends_a_request_is_closed(
    limited: Callable[..., Settings],
) -> None:
    async with serving(limited(header_timeout_seconds=0.3)) as port, connection(port) as conn:
        reader, _ = conn
        assert await closed(reader)


async def test_an_idle_connection_is_closed_after_the_keep_alive_timeout(
    limited: Callable[..., Settings],
) -> None:
    async with serving(limited(keep_alive_seconds=1)) as port, connection(port) as conn:
        reader, writer = conn
        writer.write(head("GET", "/healthz"))
        status, headers, _ = await read_response(reader)
        assert status == 200
        assert "connection" not in headers  # kept alive, until it has idled too long
        assert await closed(reader)


async def test_connections_past_the_cap_are_closed_as_they_arrive(
    limited: Callable[..., Settings],
) -> None:
    async with serving(limited(max_connections=2)) as port:
        async with connection(port) as first, connection(port) as second:
            for reader, writer in (first, second):
                writer.write(head("GET", "/healthz"))
                assert (await read_response(reader))[0] == 200
            async with connection(port) as (reader, writer):
                writer.write(head("GET", "/healthz"))
                assert await closed(reader)  # no answer: closed on arrival

        async def served_again() -> bool:
            async with connection(port) as (reader, writer):
                writer.write(head("GET", "/healthz"))
                try:
                    return (await read_response(reader))[0] == 200
                except (asyncio.IncompleteReadError, ConnectionResetError):
                    return False

        # Once the server has seen the first two go, there is room again.
        await eventually(served_again)


async def test_a_half_sent_head_after_a_kept_alive_answer_is_closed_after_the_timeout(
    limited: Callable[..., Settings],
) -> None:
    settings = limited(header_timeout_seconds=0.3, keep_alive_seconds=30)
    async with serving(settings) as port, connection(port) as (reader, writer):
        writer.write(head("GET", "/healthz"))
        assert (await read_response(reader))[0] == 200
        writer.write(head("GET", "/healthz")[:-2])  # the next head never ends
        assert await closed(reader)  # long before the keep-alive timeout


async def test_a_client_expecting_100_continue_gets_it_before_sending_the_body(
    limited: Callable[..., Settings],
) -> None:
    body = b'{"name": "Jisoo"}'
    async with serving(limited()) as port, connection(port) as (reader, writer):
        writer.write(
            head(
                "POST",
                "/api/v1/users",
                "Content-Type: application/json",
                f"Content-Length: {len(body)}",
                "Expect: 100-continue",
            )
        )
        interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HANG)
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        writer.write(body)
        status, _, answer = await read_response(reader)
        assert status == 201
        assert json.loads(answer)["name"] == "Jisoo"


class _RecordingTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closing = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 5000), "sockname": ("127.0.0.1", 8000)}.get(name, default)

    def pause_reading(self) -> None:
        return None

    def resume_reading(self) -> None:
        return None


@pytest.mark.parametrize("closes", [False, True], ids=["kept-alive", "closed"])
async def test_an_answer_goes_out_as_one_write(
    limited: Callable[..., Settings], closes: bool
) -> None:
    """The head is held back and written with the body: one system call per answer."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(b"content-length", b"2")] + ([(b"connection", b"close")] if closes else [])
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"ok"})

    settings = limited()
    config = uvicorn_config(app, settings, lifespan="off")
    config.load()
    protocol = LimitedHttpToolsProtocol(
        config, ServerState(), {}, limits=connection_limits(settings)
    )
    transport = _RecordingTransport()
    protocol.connection_made(transport)
    protocol.data_received(head("GET", "/"))
    await asyncio.wait_for(asyncio.gather(*protocol.tasks), HANG)
    [written] = transport.writes
    assert written.startswith(b"HTTP/1.1 200 OK\r\n")
    assert written.endswith(b"\r\n\r\nok")
    assert transport.closing is closes
    protocol.connection_lost(None)
