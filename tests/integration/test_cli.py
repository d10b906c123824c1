"""`boxoffice serve` as an operator starts it."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from boxoffice_bench.server import wait_ready
from tests.conftest import REDIS_URL
from tests.integration.instances import BOXOFFICE, free_port, instance_env


def test_several_workers_are_refused_without_redis(tmp_path: Path) -> None:
    env = instance_env(database_url=f"sqlite:///{tmp_path}/x.db", redis_url="", redis_prefix="x:")
    del env["BOXOFFICE_REDIS_URL"]
    result = subprocess.run(
        [BOXOFFICE, "serve", "--workers", "2", "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "--workers above 1 needs BOXOFFICE_REDIS_URL" in result.stderr


def test_postgresql_without_a_secret_key_is_refused_without_echoing_the_url(tmp_path: Path) -> None:
    env = instance_env(
        database_url="postgresql://someone:hunter2@127.0.0.1/x", redis_url="", redis_prefix="x:"
    )
    del env["BOXOFFICE_SECRET_KEY"]
    result = subprocess.run(
        [BOXOFFICE, "migrate"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr
    assert "hunter2" not in result.stderr


@contextmanager
def serving(
    args: list[str], env: dict[str, str], log: Path
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`boxoffice serve ARGS`, ready, logging to ``log``; stopped with SIGTERM after."""
    proc = subprocess.Popen(
        [BOXOFFICE, "serve", *args], env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{args[args.index('--port') + 1]}"
    try:
        wait_ready(url, proc, log)
        yield url, proc
    finally:
        proc.terminate()
        proc.wait(timeout=40)


def test_several_workers_share_one_line_through_redis(
    postgres_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    port = free_port()
    env = instance_env(database_url=postgres_url, redis_url=REDIS_URL, redis_prefix=redis_prefix)
    log = tmp_path / "serve.log"
    with serving(["--workers", "2", "--port", str(port)], env, log) as (url, proc):
        access = httpx.post(f"{url}/api/v1/users", json={"name": "w"}).json()["accessToken"]
        token = httpx.post(
            f"{url}/api/v1/queue/tokens", headers={"Authorization": f"Bearer {access}"}
        ).json()["token"]
        # Fresh connections land on either worker; every one knows the token.
        for _ in range(20):
            r = httpx.get(
                f"{url}/api/v1/queue/status", headers={"Authorization": f"Bearer {token}"}
            )
            assert r.status_code == 200, r.text
    assert proc.returncode == 0
    # The access log is on unless turned off.
    assert '"GET /api/v1/queue/status HTTP/1.1" 200' in log.read_text()


def test_the_access_log_can_be_turned_off(tmp_path: Path) -> None:
    port = free_port()
    env = instance_env(database_url=f"sqlite:///{tmp_path}/x.db", redis_url="", redis_prefix="x:")
    del env["BOXOFFICE_REDIS_URL"]
    env["BOXOFFICE_ACCESS_LOG"] = "false"
    log = tmp_path / "serve.log"
    with serving(["--port", str(port)], env, log) as (url, _):
        assert httpx.get(f"{url}/api/v1/concerts").status_code == 200
    text = log.read_text()
    assert "Application shutdown complete" in text
    assert "/api/v1/concerts" not in text
