"""A boxoffice server process for a benchmark run, on a fresh database and key space."""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx

from boxoffice.db import async_url

SECRET_KEY = "benchmark-secret-key-0123456789abcdef"
ADMIN_TOKEN = "benchmark-admin-token"


def wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    """Until a started ``boxoffice serve`` answers /readyz; its log in the error if not."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"boxoffice serve exited:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"boxoffice serve did not become ready:\n{log.read_text()}")


@dataclass
class BenchServer:
    """One app process on a fresh database: ``boxoffice serve`` (uvicorn), or the same
    app under granian when the benchmark compares servers."""

    postgres_url: str
    redis_url: str
    port: int = 8899
    server: str = "uvicorn"
    extra_env: dict[str, str] = field(default_factory=dict)
    database: str = field(default_factory=lambda: f"boxoffice_bench_{secrets.token_hex(4)}")
    prefix: str = field(default_factory=lambda: f"boxoffice-bench:{secrets.token_hex(4)}:")
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def database_url(self) -> str:
        base, _, _ = self.postgres_url.rpartition("/")
        return f"{base}/{self.database}"

    async def _admin(self, sql: str) -> None:
        conn = await asyncpg.connect(async_url(self.postgres_url).replace("+asyncpg", ""))
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    def start(self, log: Path) -> None:
        asyncio.run(self._admin(f"CREATE DATABASE {self.database}"))
        env = {k: v for k, v in os.environ.items() if not k.startswith("BOXOFFICE_")}
        env.update(
            {
                "BOXOFFICE_DATABASE_URL": self.database_url,
                "BOXOFFICE_REDIS_URL": self.redis_url,
                "BOXOFFICE_REDIS_PREFIX": self.prefix,
                "BOXOFFICE_SECRET_KEY": SECRET_KEY,
                "BOXOFFICE_ADMIN_TOKEN": ADMIN_TOKEN,
                "BOXOFFICE_LOAD_DEMO_DATA": "false",
                "BOXOFFICE_BENCH_ENDPOINTS": "true",
                **self.extra_env,
            }
        )
        bin_dir = Path(sys.executable).parent
        if self.server == "granian":
            subprocess.run(
                [str(bin_dir / "boxoffice"), "migrate"], env=env, check=True, capture_output=True
            )
            access_log = env.get("BOXOFFICE_ACCESS_LOG", "true") == "true"
            command = [
                str(bin_dir / "granian"),
                *("--interface", "asgi", "--loop", "uvloop", "--port", str(self.port)),
                "--access-log" if access_log else "--no-access-log",
                *("--factory", "boxoffice.app:app_from_env"),
            ]
        else:
            command = [str(bin_dir / "boxoffice"), "serve", "--port", str(self.port)]
        self.proc = subprocess.Popen(
            command, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT
        )
        wait_ready(self.url, self.proc, log)

    def rss_bytes(self) -> int:
        assert self.proc is not None
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)
        asyncio.run(self._admin(f"DROP DATABASE IF EXISTS {self.database} WITH (FORCE)"))
