"""A boxoffice server process for a benchmark run, on a fresh database and key space."""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import asyncpg
import httpx
from redis.asyncio import Redis

from boxoffice.storage.db import async_url

SECRET_KEY = "benchmark-secret-key-0123456789abcdef"
ADMIN_TOKEN = "benchmark-admin-token-0123456789"
# How long the server must stay (nearly) idle before a measurement starts, and how
# much CPU counts as idle: what set-up left behind (the line's mirror taking in a
# thousand admissions, say) should not be billed to the requests measured next.
SETTLE_WINDOW_SECONDS = 0.25
SETTLE_IDLE_SHARE = 0.05
SETTLE_AT_MOST_SECONDS = 10.0


def wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    """Until a started server answers /readyz; its log in the error if not."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the server did not become ready:\n{log.read_text()}")


def _descendants(pid: int) -> list[int]:
    """``pid`` and every process under it (granian serves from a child process)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(stat.parent.name))
    family, todo = [], [pid]
    while todo:
        current = todo.pop()
        family.append(current)
        todo += children.get(current, [])
    return family


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process tree so far, from /proc/<pid>/stat
    (fields 14 and 15, in clock ticks; a process's threads are included)."""
    ticks = 0
    for member in _descendants(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # it exited meanwhile
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


@dataclass
class BenchServer:
    """One app process on a fresh database: boxoffice with the bench's ceiling route
    (``python -m boxoffice_bench.serve``, uvicorn as ``boxoffice serve`` runs it), or
    the same app under granian when the benchmark compares servers. A server that
    ``joins`` another (``sibling``) runs on its database and key prefix, as a second
    instance of a deployment does: it neither creates nor drops them."""

    postgres_url: str
    redis_url: str
    port: int = 8899
    server: str = "uvicorn"
    extra_env: dict[str, str] = field(default_factory=dict)
    database: str = field(default_factory=lambda: f"boxoffice_bench_{secrets.token_hex(4)}")
    prefix: str = field(default_factory=lambda: f"boxoffice-bench:{secrets.token_hex(4)}:")
    proc: subprocess.Popen[bytes] | None = None
    joins: bool = False

    def sibling(self, port: int) -> BenchServer:
        """Another instance on this one's database and Redis prefix, at ``port``."""
        return replace(self, port=port, proc=None, joins=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def database_url(self) -> str:
        base, _, _ = self.postgres_url.rpartition("/")
        return f"{base}/{self.database}"

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("BOXOFFICE_")}
        env.update(
            {
                "BOXOFFICE_DATABASE_URL": self.database_url,
                "BOXOFFICE_REDIS_URL": self.redis_url,
                "BOXOFFICE_REDIS_PREFIX": self.prefix,
                "BOXOFFICE_SECRET_KEY": SECRET_KEY,
                "BOXOFFICE_ADMIN_TOKEN": ADMIN_TOKEN,
                "BOXOFFICE_LOAD_DEMO_DATA": "false",
                # The bench's fans are guests (POST /users), as a sale's load would be.
                "BOXOFFICE_GUEST_SIGNUP": "true",
                # ...and every one of them comes from this machine's one address.
                "BOXOFFICE_RATE_LIMITS": "false",
                # And they all come from one address: no cap on its places in a line.
                "BOXOFFICE_PLACES_PER_ADDRESS": "0",
                **self.extra_env,
            }
        )
        return env

    async def _admin(self, sql: str) -> None:
        conn = await asyncpg.connect(async_url(self.postgres_url).replace("+asyncpg", ""))
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    def _command(self, env: dict[str, str]) -> list[str]:
        python = sys.executable
        if self.server != "granian":
            return [python, "-m", "boxoffice_bench.serve", "--port", str(self.port)]
        subprocess.run(
            [python, "-m", "boxoffice_bench.serve", "--migrate-only"],
            env=env,
            check=True,
            capture_output=True,
        )
        # The access log is boxoffice's own under either server (BOXOFFICE_ACCESS_LOG):
        # granian's would be a second one, written through Python's logging.
        return [
            str(Path(python).parent / "granian"),
            *("--interface", "asgi", "--loop", "uvloop", "--port", str(self.port)),
            "--no-access-log",
            *("--factory", "boxoffice_bench.serve:app_from_env"),
        ]

    def start(self, log: Path) -> None:
        if not self.joins:
            asyncio.run(self._admin(f"CREATE DATABASE {self.database}"))
        env = self.env
        self.proc = subprocess.Popen(
            self._command(env), env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT
        )
        wait_ready(self.url, self.proc, log)

    def cpu_seconds(self) -> float:
        assert self.proc is not None
        return cpu_seconds(self.proc.pid)

    def settle(self) -> None:
        """Wait (a bounded while) until the server is idle."""
        deadline = time.monotonic() + SETTLE_AT_MOST_SECONDS
        before = self.cpu_seconds()
        while time.monotonic() < deadline:
            time.sleep(SETTLE_WINDOW_SECONDS)
            now = self.cpu_seconds()
            if now - before <= SETTLE_WINDOW_SECONDS * SETTLE_IDLE_SHARE:
                return
            before = now

    def rss_bytes(self) -> int:
        assert self.proc is not None
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0

    async def _forget_line(self) -> None:
        """Remove this run's keys from the shared Redis (its own prefix only)."""
        redis = Redis.from_url(self.redis_url)
        try:
            keys = [key async for key in redis.scan_iter(match=self.prefix + "*", count=1000)]
            for start in range(0, len(keys), 1000):
                await redis.delete(*keys[start : start + 1000])
        finally:
            await redis.aclose()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)
        if self.joins:
            return  # the database and the keys are the first instance's to drop
        asyncio.run(self._admin(f"DROP DATABASE IF EXISTS {self.database} WITH (FORCE)"))
        asyncio.run(self._forget_line())
