"""A Redis Cluster of the tests' own: three masters on free loopback ports, no
replicas, nothing persisted, torn down afterwards. Never the shared Redis."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import pytest
from redis import Redis
from redis.exceptions import RedisError

from tests.integration.instances import free_port

MASTERS = 3
HOST = "127.0.0.1"
CREATE_OPTIONS = ("--cluster-replicas", "0", "--cluster-yes")


def _binary(name: str) -> str:
    """A missing binary fails the test: a cluster suite that skips proves nothing."""
    found = shutil.which(name)
    if found is None:
        pytest.fail(
            f"{name} is required for the Redis Cluster tests (apt-get install redis-server)"
        )
    return found


@contextmanager
def redis_cluster(workdir: Path) -> Iterator[list[int]]:
    """Start the masters, join them with ``redis-cli --cluster create`` and wait until
    every node says ``cluster_state:ok``; yield their ports."""
    server, cli = _binary("redis-server"), _binary("redis-cli")
    ports = [free_port() for _ in range(MASTERS)]
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for port in ports:
            node_dir = workdir / f"node-{port}"
            node_dir.mkdir(parents=True)
            procs.append(
                subprocess.Popen(
                    [
                        *(server, "--port", str(port), "--bind", HOST),
                        *("--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"),
                        # The bus port too: its default, the port + 10,000, is past
                        # 65,535 for an ephemeral port, or taken.
                        *("--cluster-port", str(free_port())),
                        *("--cluster-node-timeout", "5000", "--dir", str(node_dir)),
                        *("--save", "", "--appendonly", "no"),
                        *("--logfile", str(node_dir / "redis.log")),
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.STDOUT,
                )
            )
        for port, proc in zip(ports, procs, strict=True):
            log = workdir / f"node-{port}" / "redis.log"
            _wait(partial(_answers, port, proc, log), what=f"redis-server on {port}")
        subprocess.run(
            [cli, "--cluster", "create", *(f"{HOST}:{p}" for p in ports), *CREATE_OPTIONS],
            check=True,
            capture_output=True,
            timeout=30,
        )
        for port in ports:
            _wait(partial(_cluster_ok, port), what=f"cluster_state:ok on {port}")
        yield ports
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def _answers(port: int, proc: subprocess.Popen[bytes], log: Path) -> bool:
    if proc.poll() is not None:
        said = log.read_text() if log.exists() else "(no log)"
        pytest.fail(f"redis-server on {port} exited:\n{said}")
    try:
        with Redis(host=HOST, port=port, socket_timeout=1) as client:
            return bool(client.ping())
    except (RedisError, OSError):
        return False


def _cluster_ok(port: int) -> bool:
    with Redis(host=HOST, port=port, socket_timeout=1, decode_responses=True) as client:
        info = client.cluster("INFO")  # parsed: {'cluster_state': 'ok', ...}
    return bool(info.get("cluster_state") == "ok")


def _wait(ready: Callable[[], bool], *, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(0.05)
    pytest.fail(f"{what} did not come up within {timeout:.0f} s")


@pytest.fixture(scope="session")
def redis_cluster_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A URL of one node of a three-master cluster started for this session."""
    with redis_cluster(tmp_path_factory.mktemp("redis-cluster")) as ports:
        yield f"redis://{HOST}:{ports[0]}/0"
