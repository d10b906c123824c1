"""Run wrk (the load generator) and read back what its Lua scripts report."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from importlib.resources import files
from pathlib import Path

MARK = "boxoffice-bench"
# wrk's own default (2 s) would count slower answers as socket errors and leave
# them out of the latencies: at 64 connections on a busy machine, the very tail.
TIMEOUT = "30s"


@dataclass(frozen=True)
class WrkResult:
    """One wrk run: what it sent, how the server answered, and (when asked for) the
    CPU seconds the server process spent meanwhile."""

    name: str
    connections: int
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: int
    statuses: dict[int, int] = field(default_factory=dict)
    prepared: int | None = None
    cpu_seconds: float | None = None

    @property
    def requests_per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def ok(self) -> int:
        """Answers in the 2xx range (wrk counts anything above 399 apart; boxoffice
        never redirects)."""
        if self.statuses:
            return sum(n for status, n in self.statuses.items() if 200 <= status < 300)
        return self.requests - self.non_2xx

    @property
    def others(self) -> dict[int, int]:
        return {s: n for s, n in sorted(self.statuses.items()) if not 200 <= s < 300}

    @property
    def ran_out(self) -> bool:
        """More requests were sent than were prepared: the last ones repeated earlier work."""
        return self.prepared is not None and self.requests > self.prepared

    @property
    def cpu_us_per_request(self) -> float | None:
        if self.cpu_seconds is None or not self.requests:
            return None
        return self.cpu_seconds / self.requests * 1e6


def require_wrk() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise SystemExit("boxoffice bench needs wrk: apt-get install wrk")
    return found


def _script(workdir: Path, *names: str) -> Path:
    """The Lua scripts named, as one file (wrk takes one ``-s``)."""
    lua = files("boxoffice_bench") / "lua"
    path = workdir / ("-".join(n.removesuffix(".lua") for n in names) + ".lua")
    path.write_text("\n".join(lua.joinpath(name).read_text() for name in names))
    return path


def _read(name: str, connections: int, output: str, prepared: int | None) -> WrkResult:
    reported: dict[str, list[str]] = {}
    statuses: dict[int, int] = {}
    for line in output.splitlines():
        parts = line.split()
        if len(parts) < 2 or parts[0] != MARK:
            continue
        kind, values = parts[1], parts[2:]
        if kind == "status":
            statuses[int(values[0])] = int(values[1])
        else:
            reported[kind] = values
    requests, duration_us, connect, read, write, timeout, status = map(int, reported["summary"])
    p50_us, p99_us = map(float, reported["latency"])
    return WrkResult(
        name=name,
        connections=connections,
        requests=requests,
        seconds=duration_us / 1e6,
        p50_ms=p50_us / 1000,
        p99_ms=p99_us / 1000,
        non_2xx=status,
        socket_errors=connect + read + write + timeout,
        statuses=statuses,
        prepared=prepared,
    )


def run_wrk(
    name: str,
    url: str,
    *,
    seconds: int,
    workdir: Path,
    connections: int = 64,
    token: str | None = None,
    requests: Path | None = None,
    method: str = "GET",
    cpu: Callable[[], float] | None = None,
) -> WrkResult:
    """wrk against ``url``: the same request each time (``token`` its credential), or
    each request the next line of a prepared ``requests`` file (see requests.lua).
    ``cpu`` reads the server's CPU seconds, taken before and after the run."""
    args = [require_wrk(), "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", TIMEOUT]
    env = None
    prepared = None
    if token is not None:
        args += ["-H", f"Authorization: Bearer {token}"]
    if requests is None:
        script = _script(workdir, "summary.lua")
    else:
        script = _script(workdir, "requests.lua", "summary.lua")
        env = {"BOXOFFICE_BENCH_REQUESTS": str(requests), "BOXOFFICE_BENCH_METHOD": method}
        with requests.open("rb") as lines:
            prepared = sum(1 for _ in lines)
    before = cpu() if cpu is not None else 0.0
    out = subprocess.run(
        [*args, "-s", str(script), url], capture_output=True, text=True, check=True, env=env
    ).stdout
    result = _read(name, connections, out, prepared)
    if cpu is None:
        return result
    return replace(result, cpu_seconds=cpu() - before)
