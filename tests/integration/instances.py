"""Real ``boxoffice serve`` processes for the multi-instance and crash tests."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import TypeVar

import httpx

T = TypeVar("T")
BOXOFFICE = str(Path(sys.executable).parent / "boxoffice")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    """Until a started server answers /readyz; its log in the failure if not."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the server exited:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"the server did not become ready:\n{log.read_text()}")


class Instance:
    """One app process; start, kill and start again on the same port."""

    def __init__(self, env: dict[str, str], log_dir: Path, name: str) -> None:
        self.env = env
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_dir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [BOXOFFICE, "serve", "--port", str(self.port)],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self) -> None:
        assert self.proc is not None
        wait_ready(self.url, self.proc, self.log_path)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


@contextmanager
def running_pair(env: dict[str, str], log_dir: Path) -> Iterator[list[Instance]]:
    """Two instances started together (so they race to migrate), stopped afterwards."""
    pair = [Instance(env, log_dir, "a"), Instance(env, log_dir, "b")]
    for instance in pair:
        instance.start()
    try:
        for instance in pair:
            instance.wait_ready()
        yield pair
    finally:
        for instance in pair:
            instance.stop()


def instance_env(
    *, database_url: str, redis_url: str, redis_prefix: str, **extra: str
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOXOFFICE_")}
    env.update(
        {
            "BOXOFFICE_DATABASE_URL": database_url,
            "BOXOFFICE_REDIS_URL": redis_url,
            "BOXOFFICE_REDIS_PREFIX": redis_prefix,
            "BOXOFFICE_SECRET_KEY": "multi-instance-test-secret-key-0123456789",
            "BOXOFFICE_ADMIN_TOKEN": "admin-test-token-0123456789",
            "BOXOFFICE_LOAD_DEMO_DATA": "false",
            # Their fans are guests, as the seeds' POST /users makes them.
            "BOXOFFICE_GUEST_SIGNUP": "true",
            # ...and crowds of them come from 127.0.0.1 alone.
            "BOXOFFICE_RATE_LIMITS": "false",
            # And they all come from one address: no cap on its places in a line.
            "BOXOFFICE_PLACES_PER_ADDRESS": "0",
        }
    )
    env.update({f"BOXOFFICE_{k.upper()}": v for k, v in extra.items()})
    return env


async def gather_limited(coros: Iterable[Awaitable[T]], limit: int = 200) -> list[T]:
    """Run everything at once, with at most ``limit`` requests in flight."""
    gate = asyncio.Semaphore(limit)

    async def one(coro: Awaitable[T]) -> T:
        async with gate:
            return await coro

    return list(await asyncio.gather(*(one(c) for c in coros)))


@asynccontextmanager
async def clients_of(
    instances: list[Instance], *, connections: int = 100
) -> AsyncIterator[list[httpx.AsyncClient]]:
    """An HTTP client per instance. Idle connections are dropped well before the
    server's keep-alive closes them, so a request never goes out on a connection the
    server is closing."""
    limits = httpx.Limits(
        max_connections=connections, max_keepalive_connections=connections, keepalive_expiry=1
    )
    made = [httpx.AsyncClient(base_url=i.url, timeout=60, limits=limits) for i in instances]
    try:
        yield made
    finally:
        for client in made:
            await client.aclose()
