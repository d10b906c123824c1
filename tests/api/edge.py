"""The app under uvicorn configured as ``boxoffice serve`` configures it (its own
reading of X-Forwarded-For off), and clients that connect from a loopback address
of their choosing (127.0.0.x), so a test can be several addresses at once."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import httpx
import uvicorn

from boxoffice.app import create_app
from boxoffice.config import Settings
from boxoffice.http.server import uvicorn_config
from tests.support import ADMIN_TOKEN, Api, FakeClock

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
WRONG_ADMIN = {"Authorization": "Bearer not-the-admin-token"}


class Edge:
    """One running app; ``client(address)`` is an HTTP client whose connections come
    from ``address``."""

    def __init__(self, url: str, clock: FakeClock, stack: AsyncExitStack) -> None:
        self.url = url
        self.clock = clock
        self._stack = stack

    async def client(self, address: str = "127.0.0.1") -> httpx.AsyncClient:
        transport = httpx.AsyncHTTPTransport(local_address=address)
        client = httpx.AsyncClient(base_url=self.url, transport=transport, timeout=30)
        return await self._stack.enter_async_context(client)

    async def api(self, address: str = "127.0.0.1") -> Api:
        return Api(await self.client(address), self.clock)


@asynccontextmanager
async def edge(settings: Settings, clock: FakeClock | None = None) -> AsyncIterator[Edge]:
    clock = clock or FakeClock()
    app: Any = create_app(settings, clock=clock)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn_config(app, settings, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.005)
    try:
        async with AsyncExitStack() as stack:
            yield Edge(f"http://127.0.0.1:{sock.getsockname()[1]}", clock, stack)
    finally:
        server.should_exit = True
        await task
        sock.close()


def default(name: str) -> str:
    """A limit's default, as a deployment gets it."""
    value = Settings.model_fields[name].default
    assert isinstance(value, str)
    return value
