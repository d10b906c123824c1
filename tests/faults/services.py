"""A Redis server and a PostgreSQL cluster of the fault suite's own, to kill, freeze,
stop and start again. The shared services other test runs use are never touched."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.instances import free_port

LIBFAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"


def require_binary(path: str | None, what: str, install: str) -> str:
    """The binary's path, or a failed test saying how to get it (never a skip)."""
    if path is None or not os.access(path, os.X_OK):
        pytest.fail(f"the fault suite needs {what} ({install})", pytrace=False)
    return path


def wait_until(ready: Callable[[], bool], *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not come up within {timeout:.0f} s")


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """``redis-server`` on a free port, nothing persisted: a restart comes back empty."""

    def __init__(self, workdir: Path) -> None:
        self.binary = require_binary(
            shutil.which("redis-server"), "redis-server", "apt-get install redis-server"
        )
        self.dir = workdir
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                self.binary,
                *("--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no"),
                *("--dir", str(self.dir), "--logfile", str(self.dir / "redis.log")),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(lambda: _answers_ping(self.port), timeout=10, what="redis-server")

    def kill(self) -> None:
        """SIGKILL: everything in memory is gone."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def freeze(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.thaw()
            self.proc.kill()
            self.proc.wait(timeout=10)


def _postgres_bindir() -> str:
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parent.parent.name),
    )
    initdb = require_binary(
        found[-1] if found else None,
        "PostgreSQL's server binaries (initdb, pg_ctl)",
        "apt-get install postgresql",
    )
    return str(Path(initdb).parent)


class PostgresCluster:
    """A throwaway cluster in a temporary directory, trust auth, on a free port.

    initdb refuses to run as root, so as root every server command runs as the
    ``postgres`` OS user (which then owns the directory)."""

    def __init__(self) -> None:
        self.bindir = _postgres_bindir()
        self.port = free_port()
        self.root = Path(os.environ.get("TMPDIR", "/tmp")) / f"boxoffice-faults-pg-{self.port}"
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self._frozen: list[int] = []
        self._as: list[str] = []
        if os.geteuid() == 0:
            runuser = require_binary(shutil.which("runuser"), "runuser", "util-linux")
            try:
                owner = pwd.getpwnam("postgres")
            except KeyError:
                pytest.fail(
                    "the fault suite runs PostgreSQL as the 'postgres' OS user when run as "
                    "root, and there is none (apt-get install postgresql makes it)",
                    pytrace=False,
                )
            self._as = [runuser, "-u", "postgres", "--"]
            self._owner = (owner.pw_uid, owner.pw_gid)

    def _run(self, *args: str) -> None:
        subprocess.run([*self._as, *args], check=True, capture_output=True)

    def _make_root(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
        self.root.mkdir(mode=0o700, parents=True)
        if self._as:
            os.chown(self.root, *self._owner)

    def init(self) -> None:
        self._make_root()
        self._run(
            f"{self.bindir}/initdb",
            *("-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8"),
            "--no-sync",
        )

    def copy_of(self, primary: PostgresCluster) -> None:
        """A streaming replica of ``primary`` (``pg_basebackup -R``: it starts as a
        standby that follows the primary, and answers reads only)."""
        self._make_root()
        self._run(
            f"{self.bindir}/pg_basebackup",
            *("-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres"),
            *("-D", str(self.data), "-R", "-X", "stream", "--checkpoint=fast", "--no-sync"),
        )

    def start(self, *settings: str) -> None:
        """Started and answering; ``settings`` are ``name=value`` server settings."""
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1"
        options += "".join(f" -c {setting}" for setting in settings)
        self._run(
            f"{self.bindir}/pg_ctl",
            *("-D", str(self.data), "-l", str(self.log), "-w", "-t", "30"),
            *("-o", options, "start"),
        )

    def kill(self) -> None:
        """SIGKILL on the postmaster and every process it forked: a server that dies
        mid-sentence, with no shutdown and no last word to its replica."""
        for pid in self._processes():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def refuse_replicas(self) -> None:
        """New replication connections refused (a rule first in pg_hba.conf); the
        caller ends those already open. A replica then falls behind for as long as the
        refusal lasts, the way one behind a slow or cut network link would."""
        hba = self.data / "pg_hba.conf"
        hba.write_text("host replication all all reject\n" + hba.read_text())
        self._run(f"{self.bindir}/pg_ctl", "-D", str(self.data), "reload")

    def promote(self) -> None:
        """A standby becomes a primary (``pg_ctl promote``), taking writes at once."""
        self._run(f"{self.bindir}/pg_ctl", "-D", str(self.data), "-w", "-t", "30", "promote")

    def stop_fast(self) -> None:
        """``pg_ctl stop -m fast``: sessions are cut, the server shuts down cleanly."""
        self._run(f"{self.bindir}/pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def running(self) -> bool:
        return self.postmaster_pid() is not None

    def postmaster_pid(self) -> int | None:
        try:
            pid = int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        return pid if Path(f"/proc/{pid}").exists() else None

    def _processes(self) -> list[int]:
        """The postmaster and every process it forked (backends, checkpointer, ...)."""
        postmaster = self.postmaster_pid()
        if postmaster is None:
            return []
        children = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == postmaster:
                children.append(int(stat.parent.name))
        return [postmaster, *children]

    def freeze(self) -> None:
        """SIGSTOP the postmaster first (so it forks nothing new), then its children."""
        self._frozen = self._processes()
        for pid in self._frozen:
            os.kill(pid, signal.SIGSTOP)

    def thaw(self) -> None:
        for pid in reversed(self._frozen):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        self._frozen = []

    def ensure_running(self) -> None:
        """Undo whatever a scenario left behind: thawed and started."""
        self.thaw()
        if not self.running():
            self.start()

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def destroy(self) -> None:
        self.thaw()
        if self.running():
            with contextlib.suppress(subprocess.CalledProcessError):  # killed, not yet reaped
                self._run(f"{self.bindir}/pg_ctl", "-D", str(self.data), "-m", "immediate", "stop")
        shutil.rmtree(self.root, ignore_errors=True)
