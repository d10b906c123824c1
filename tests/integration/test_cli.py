"""`boxoffice serve` as an operator starts it, and the CLI's answers to an operator's
ordinary mistakes: one line on stderr saying what to fix, and a non-zero status."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.conftest import POSTGRES_URL, REDIS_URL
from tests.integration.instances import BOXOFFICE, free_port, instance_env, wait_ready

# PostgreSQL wants a real admin token.
ADMIN_TOKEN = "serve-test-admin-token-0123456789"
# A serve that is going to exit does so in seconds; one that hangs fails the test here.
HANG = 60


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
    env = instance_env(
        database_url=postgres_url,
        redis_url=REDIS_URL,
        redis_prefix=redis_prefix,
        admin_token=ADMIN_TOKEN,
    )
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


def embedded_env(tmp_path: Path) -> dict[str, str]:
    env = instance_env(database_url=f"sqlite:///{tmp_path}/x.db", redis_url="", redis_prefix="x:")
    del env["BOXOFFICE_REDIS_URL"]
    return env


def production_env(postgres_url: str, redis_prefix: str) -> dict[str, str]:
    """PostgreSQL and Redis, with the status mirror and its background tasks on."""
    return instance_env(
        database_url=postgres_url,
        redis_url=REDIS_URL,
        redis_prefix=redis_prefix,
        admin_token=ADMIN_TOKEN,
        queue_status_mirror="true",
    )


@contextmanager
def taken_port() -> Iterator[int]:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield int(holder.getsockname()[1])


def serve_on_a_taken_port(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    with taken_port() as port:
        result = subprocess.run(
            [BOXOFFICE, "serve", "--port", str(port), *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=HANG,
        )
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in result.stderr
    return result


def test_serve_on_a_taken_port_exits_non_zero_in_the_embedded_shape(tmp_path: Path) -> None:
    result = serve_on_a_taken_port(embedded_env(tmp_path))
    assert result.returncode != 0
    # It never got as far as starting the app, nor even as creating its database.
    assert "Waiting for application startup" not in result.stderr
    assert not (tmp_path / "x.db").exists()
    assert_one_line(result)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_serve_on_a_taken_port_exits_non_zero_with_postgresql_redis_and_the_mirror(
    postgres_url: str, redis_prefix: str, workers: str
) -> None:
    result = serve_on_a_taken_port(production_env(postgres_url, redis_prefix), "--workers", workers)
    assert result.returncode != 0
    assert "Waiting for application startup" not in result.stderr


def test_sigterm_stops_a_serving_instance_with_the_mirror_on(
    postgres_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    log = tmp_path / "serve.log"
    env = production_env(postgres_url, redis_prefix)
    with serving(["--port", str(free_port())], env, log) as (url, proc):
        access = httpx.post(f"{url}/api/v1/users", json={"name": "t"}).json()["accessToken"]
        joined = httpx.post(
            f"{url}/api/v1/queue/tokens", headers={"Authorization": f"Bearer {access}"}
        )
        assert joined.status_code == 201, joined.text
        proc.send_signal(signal.SIGTERM)
        # uvicorn ends a graceful shutdown by re-raising the signal it caught.
        assert proc.wait(timeout=HANG) in (0, -signal.SIGTERM)
    assert "Application shutdown complete" in log.read_text()


# An app whose shutdown never ends: its background task swallows the cancellation
# meant to stop it (as a Redis command cancelled at the wrong instant does under
# Python 3.11), so the lifespan waits for it forever.
STUBBORN_APP = """
import asyncio, sys
from contextlib import asynccontextmanager
from fastapi import FastAPI
from boxoffice.http import server
from boxoffice.config import Settings

server.SHUTDOWN_DEADLINE_SECONDS = 1.0

async def stubborn():
    while True:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            pass

@asynccontextmanager
async def lifespan(app):
    task = asyncio.create_task(stubborn())
    print("started", flush=True)
    yield
    task.cancel()
    await task

settings = Settings(database_url=sys.argv[2])
server.run(FastAPI(lifespan=lifespan), settings, host="127.0.0.1", port=int(sys.argv[1]))
"""


def test_a_shutdown_that_never_ends_still_ends_the_process_non_zero(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", STUBBORN_APP, str(free_port()), f"sqlite:///{tmp_path}/x.db"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "started\n"
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=HANG)
    finally:
        proc.kill()
    assert proc.returncode == 3
    assert "the app did not finish shutting down within 1 s; exiting" in stderr


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([BOXOFFICE, *args], env=env, capture_output=True, text=True, timeout=HANG)


def assert_one_line(result: subprocess.CompletedProcess[str], *saying: str) -> None:
    assert result.returncode != 0, result
    assert "Traceback" not in result.stderr, result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr
    for words in saying:
        assert words in result.stderr, result.stderr


def postgres_env(database_url: str) -> dict[str, str]:
    env = instance_env(database_url=database_url, redis_url="", redis_prefix="x:")
    del env["BOXOFFICE_REDIS_URL"]
    return env


def test_an_unreachable_postgresql_is_one_line_naming_where_but_not_the_password() -> None:
    url = f"postgresql://someone:hunter2@127.0.0.1:{free_port()}/boxoffice"
    result = run_cli(postgres_env(url), "migrate")
    assert_one_line(result, "cannot reach the database", "Connection refused", "DATABASE_URL")
    assert "hunter2" not in result.stderr


def test_a_database_that_does_not_exist_is_one_line_saying_to_create_it() -> None:
    missing = f"boxoffice_missing_{uuid.uuid4().hex[:8]}"
    url = POSTGRES_URL.rpartition("/")[0] + "/" + missing
    result = run_cli(postgres_env(url), "migrate")
    assert_one_line(result, f'database "{missing}" does not exist', f"createdb {missing}")


@pytest.mark.parametrize("command", ["migrate", "demo-data", "serve"])
def test_a_sqlite_path_in_a_missing_folder_is_one_line_naming_the_folder(
    tmp_path: Path, command: str
) -> None:
    env = embedded_env(tmp_path)
    env["BOXOFFICE_DATABASE_URL"] = f"sqlite:///{tmp_path}/nowhere/x.db"
    extra = ["--port", str(free_port())] if command == "serve" else []
    result = run_cli(env, command, *extra)
    assert_one_line(result, f"the folder {tmp_path}/nowhere does not exist")


@pytest.mark.parametrize("port", ["99999", "-1", "eighty"])
def test_a_port_that_is_no_port_is_one_line_and_touches_no_database(
    tmp_path: Path, port: str
) -> None:
    result = run_cli(embedded_env(tmp_path), "serve", "--port", port)
    assert_one_line(result, "--port", "boxoffice serve --help")
    assert not (tmp_path / "x.db").exists()


def test_a_malformed_redis_url_is_one_line_that_keeps_the_url_out(tmp_path: Path) -> None:
    env = embedded_env(tmp_path)
    env["BOXOFFICE_REDIS_URL"] = "127.0.0.1:hunter2@6379"
    result = run_cli(env, "serve", "--port", str(free_port()))
    assert_one_line(result, "BOXOFFICE_REDIS_URL is not a Redis URL", "redis://")
    assert "hunter2" not in result.stderr
    assert not (tmp_path / "x.db").exists()


def test_too_few_workers_is_one_line(tmp_path: Path) -> None:
    assert_one_line(run_cli(embedded_env(tmp_path), "serve", "--workers", "0"), "--workers")


def test_the_version_is_shown(tmp_path: Path) -> None:
    result = run_cli(embedded_env(tmp_path), "--version")
    assert result.returncode == 0
    assert result.stdout.startswith("boxoffice ")


def test_every_option_of_serve_is_explained_with_its_default(tmp_path: Path) -> None:
    result = run_cli(embedded_env(tmp_path), "serve", "--help")
    assert result.returncode == 0
    text = " ".join(result.stdout.split())  # argparse wraps the help at any width
    for option, default in (("--host", "127.0.0.1"), ("--port", "8000"), ("--workers", "1")):
        assert f"{option} {option[2:].upper()} " in text
        assert f"(default: {default})" in text
