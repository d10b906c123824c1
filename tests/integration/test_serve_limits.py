"""A real `boxoffice serve` process keeps its memory whatever body a client sends."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.instances import Instance, instance_env

BODY_BYTES = 300 * 1024 * 1024
PIECE = b"x" * (1024 * 1024)
# Well above what serving a few requests costs; far below the body (the process grew
# by about 1 GB reading a 300 MB one before bodies were limited).
GROWTH_ALLOWED = 50 * 1024 * 1024


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[Instance]:
    env = instance_env(database_url=f"sqlite:///{tmp_path}/x.db", redis_url="", redis_prefix="x:")
    del env["BOXOFFICE_REDIS_URL"]
    served = Instance(env, tmp_path, "serve")
    served.start()
    try:
        served.wait_ready()
        yield served
    finally:
        served.stop()


def rss_bytes(instance: Instance) -> int:
    assert instance.proc is not None
    for line in Path(f"/proc/{instance.proc.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def send_big_body(port: int, *, chunked: bool) -> bytes:
    """POST /api/v1/users with a 300 MB body, sent until the server stops taking it;
    whatever the server answered."""
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {BODY_BYTES}"
    head = (
        "POST /api/v1/users HTTP/1.1\r\nHost: boxoffice\r\n"
        f"Content-Type: application/json\r\n{framing}\r\n\r\n"
    ).encode()
    piece = b"%x\r\n%s\r\n" % (len(PIECE), PIECE) if chunked else PIECE
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        try:
            sock.sendall(head)
            for _ in range(BODY_BYTES // len(PIECE)):
                sock.sendall(piece)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server has answered and closed
        try:
            return sock.recv(65536)
        except ConnectionResetError:
            return b""


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_300_megabyte_body_does_not_grow_the_server(instance: Instance, chunked: bool) -> None:
    before = rss_bytes(instance)
    answer = send_big_body(instance.port, chunked=chunked)
    assert rss_bytes(instance) - before < GROWTH_ALLOWED
    if answer:
        assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    # And the server goes on serving.
    with socket.create_connection(("127.0.0.1", instance.port), timeout=60) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: boxoffice\r\nConnection: close\r\n\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")
