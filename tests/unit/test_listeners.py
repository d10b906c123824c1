"""A busy server accepts a burst of new connections within a few turns of its event
loop: libuv (under uvloop) accepts one connection per watched descriptor per turn,
so ``boxoffice serve`` watches its one listening socket through several."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import pytest
import uvloop

from boxoffice.http.server import ACCEPTS_PER_TURN, listen, listeners

BURST = 40
TURNS = 10


class Accepted(asyncio.Protocol):
    made: list[asyncio.BaseTransport]

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.made.append(transport)


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = uvloop.new_event_loop()
    yield loop
    loop.close()


def accepted_within(loop: asyncio.AbstractEventLoop, count: int) -> tuple[int, int]:
    """Listen through ``count`` descriptors, open ``BURST`` connections at once (the
    kernel completes them), then let the loop turn: how many it had accepted when it
    stopped, and after how many turns (at most ``TURNS``)."""
    sock = listen("127.0.0.1", 0)
    made: list[asyncio.BaseTransport] = []
    protocol = type("Counted", (Accepted,), {"made": made})
    servers = [
        loop.run_until_complete(loop.create_server(protocol, sock=s, backlog=BURST * 2))
        for s in listeners(sock, count)
    ]
    port = sock.getsockname()[1]
    clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(BURST)]
    turns = 0

    async def turn_until_all_accepted() -> None:
        nonlocal turns
        while len(made) < BURST and turns < TURNS:
            turns += 1
            await asyncio.sleep(0)

    try:
        loop.run_until_complete(turn_until_all_accepted())
        return len(made), turns
    finally:
        for client in clients:
            client.close()
        for server in servers:
            server.close()
        for transport in made:
            transport.close()
        loop.run_until_complete(asyncio.sleep(0))


def test_the_served_listeners_share_one_port() -> None:
    sock = listen("127.0.0.1", 0)
    served = listeners(sock)
    try:
        assert len(served) == ACCEPTS_PER_TURN
        assert {s.getsockname() for s in served} == {sock.getsockname()}
        assert len({s.fileno() for s in served}) == ACCEPTS_PER_TURN
    finally:
        for s in served:
            s.close()


def test_a_burst_of_connections_is_accepted_within_a_few_turns(
    loop: asyncio.AbstractEventLoop,
) -> None:
    made, turns = accepted_within(loop, ACCEPTS_PER_TURN)
    assert made == BURST
    assert turns <= 3


def test_control_one_descriptor_accepts_one_connection_a_turn(
    loop: asyncio.AbstractEventLoop,
) -> None:
    """Without the duplicates: libuv's one accept per turn, the reason for them (if
    this fails, uvloop accepts greedily again and ``ACCEPTS_PER_TURN`` can go)."""
    made, turns = accepted_within(loop, 1)
    assert turns == TURNS
    assert made <= TURNS + 2
