"""Run wrk (the load generator) and read its numbers."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

ROTATE_TOKENS_LUA = """
local tokens = {}
for line in io.lines(os.getenv("BOXOFFICE_BENCH_TOKENS")) do tokens[#tokens + 1] = line end
local i = 0
request = function()
  i = i + 1
  local headers = {["Authorization"] = "Bearer " .. tokens[(i % #tokens) + 1]}
  return wrk.format(os.getenv("BOXOFFICE_BENCH_METHOD"), nil, headers, "")
end
"""


@dataclass(frozen=True)
class WrkResult:
    name: str
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    requests: int


def require_wrk() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise SystemExit("boxoffice bench needs wrk: apt-get install wrk")
    return found


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text.strip()).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run_wrk(
    name: str,
    url: str,
    *,
    seconds: int,
    connections: int = 64,
    token: str | None = None,
    rotate_tokens: Path | None = None,
    method: str = "GET",
    workdir: Path,
) -> WrkResult:
    args = [require_wrk(), "-t1", f"-c{connections}", f"-d{seconds}s", "--latency"]
    env = None
    if token is not None:
        args += ["-H", f"Authorization: Bearer {token}"]
    if rotate_tokens is not None:
        script = workdir / "rotate.lua"
        script.write_text(ROTATE_TOKENS_LUA)
        args += ["-s", str(script)]
        env = {"BOXOFFICE_BENCH_TOKENS": str(rotate_tokens), "BOXOFFICE_BENCH_METHOD": method}
    out = subprocess.run([*args, url], capture_output=True, text=True, check=True, env=env).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"\s50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"\s99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    return WrkResult(name, rps, p50, p99, int(bad.group(1)) if bad else 0, total)
