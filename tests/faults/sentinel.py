"""A replicated Redis of the fault suite's own: a primary, a replica of it and three
sentinels watching them, each on a free port, to fail over by killing the primary."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import redis

from tests.faults.services import RedisServer, wait_until

MASTER_NAME = "boxoffice"
QUORUM = 2
# A primary silent this long is down in a sentinel's eyes; with the quorum agreeing,
# one sentinel is elected to promote the replica. Short, so a scenario's failover
# takes seconds; production keeps Redis's 30 s default or a few seconds more than its
# network's worst pause.
DOWN_AFTER_MS = 1000
FAILOVER_TIMEOUT_MS = 5000


def _admin(port: int) -> redis.Redis:
    return redis.Redis(port=port, socket_timeout=2, decode_responses=True)


def _answers(port: int) -> bool:
    try:
        with _admin(port) as client:
            return bool(client.ping())
    except redis.RedisError:
        return False


def _start(server: RedisServer, command: list[str]) -> None:
    server.proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_until(lambda: _answers(server.port), timeout=10, what=command[-1])


class RedisNode(RedisServer):
    """``redis-server`` as the primary, or with ``replica_of`` a replica of it."""

    def __init__(self, workdir: Path, *, replica_of: int | None = None) -> None:
        super().__init__(workdir)
        self.replica_of = replica_of

    def start(self) -> None:
        replica = (
            [] if self.replica_of is None else ["--replicaof", "127.0.0.1", str(self.replica_of)]
        )
        _start(
            self,
            [
                self.binary,
                *("--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no", *replica),
                *("--dir", str(self.dir), "--logfile", str(self.dir / "redis.log")),
            ],
        )

    def info(self) -> dict[str, object]:
        with _admin(self.port) as client:
            return dict(client.info("replication"))

    def offset(self) -> int:
        """How far into the replication stream this node is."""
        info = self.info()
        key = "master_repl_offset" if info["role"] == "master" else "slave_repl_offset"
        return int(str(info[key]))


class SentinelProcess(RedisServer):
    """``redis-server --sentinel`` with a generated config (it rewrites the file as it
    learns the other sentinels and the replicas, so each has its own)."""

    def __init__(self, workdir: Path, *, primary_port: int) -> None:
        super().__init__(workdir)
        self.config = workdir / "sentinel.conf"
        self.config.write_text(
            "\n".join(
                [
                    f"port {self.port}",
                    "bind 127.0.0.1",
                    f"dir {workdir}",
                    f"logfile {workdir / 'sentinel.log'}",
                    f"sentinel monitor {MASTER_NAME} 127.0.0.1 {primary_port} {QUORUM}",
                    f"sentinel down-after-milliseconds {MASTER_NAME} {DOWN_AFTER_MS}",
                    f"sentinel failover-timeout {MASTER_NAME} {FAILOVER_TIMEOUT_MS}",
                    f"sentinel parallel-syncs {MASTER_NAME} 1",
                    "",
                ]
            )
        )

    def start(self) -> None:
        _start(self, [self.binary, str(self.config), "--sentinel"])

    def master(self) -> dict[str, Any]:
        """What this sentinel knows of the primary (redis-py's parsed SENTINEL MASTER)."""
        with _admin(self.port) as client:
            return dict(client.sentinel_master(MASTER_NAME))


class ReplicatedRedis:
    """The primary, its replica, and three sentinels that agree on them."""

    def __init__(self, root: Path) -> None:
        for name in ("primary", "replica", "s1", "s2", "s3"):
            (root / name).mkdir(parents=True)
        self.primary = RedisNode(root / "primary")
        self.replica = RedisNode(root / "replica", replica_of=self.primary.port)
        self.sentinels = [
            SentinelProcess(root / f"s{i}", primary_port=self.primary.port) for i in (1, 2, 3)
        ]

    @property
    def sentinel_list(self) -> list[tuple[str, int]]:
        return [("127.0.0.1", s.port) for s in self.sentinels]

    @property
    def sentinel_addresses(self) -> str:
        """As ``BOXOFFICE_REDIS_SENTINELS`` is written."""
        return ",".join(f"{host}:{port}" for host, port in self.sentinel_list)

    def start(self) -> None:
        self.primary.start()
        self.replica.start()
        wait_until(
            lambda: self.replica.info().get("master_link_status") == "up",
            timeout=15,
            what="the replica's link to the primary",
        )
        for sentinel in self.sentinels:
            sentinel.start()
        # Sentinels find each other and the replica through the primary's hello
        # messages, every 2 s; a failover needs both known.
        wait_until(self._watching, timeout=20, what="three sentinels that know the replica")

    def _watching(self) -> bool:
        for sentinel in self.sentinels:
            state = sentinel.master()
            if state["num-other-sentinels"] < 2 or state["num-slaves"] < 1:
                return False
        return True

    def pause_writes_until_caught_up(self, *, timeout: float = 5) -> int:
        """Hold every write on the primary (``CLIENT PAUSE WRITE``: commands wait, none
        fails) and wait until the replica has everything the primary acknowledged;
        the primary's offset then. A kill right after loses nothing acknowledged."""
        with _admin(self.primary.port) as client:
            client.execute_command("CLIENT", "PAUSE", int(timeout * 1000), "WRITE")
        target = self.primary.offset()
        wait_until(
            lambda: self.replica.offset() >= target, timeout=timeout, what="the replica catching up"
        )
        return target

    def named_primary(self) -> int | None:
        """The port every sentinel names as the primary's, if they agree."""
        try:
            ports = {s.master()["port"] for s in self.sentinels}
        except redis.RedisError:
            return None
        return ports.pop() if len(ports) == 1 else None

    def promoted(self) -> bool:
        """Whether every sentinel names the replica as the primary now."""
        return self.named_primary() == self.replica.port

    def role_of_replica(self) -> str:
        return str(self.replica.info()["role"])

    def stop(self) -> None:
        for server in (*self.sentinels, self.replica, self.primary):
            server.stop()


def wait_promoted(cluster: ReplicatedRedis, *, timeout: float) -> float:
    """Seconds until every sentinel names the replica the primary."""
    started = time.monotonic()
    wait_until(cluster.promoted, timeout=timeout, what="the sentinels' failover")
    return time.monotonic() - started
