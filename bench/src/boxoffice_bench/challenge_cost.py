"""What a line's proof-of-work challenge costs, per level: a script's CPU-seconds per
place, and a fan's wait in Chromium (the numbers boxoffice.queue.challenge's
MAX_NUMBERS were chosen from).

- ``python_cpu_seconds_per_place(level, samples)``: real challenges from
  ``Challenges.issue``, solved with the simplest fast loop a script writer would reach
  for (hashlib: sha256 of the salt once, then ``.copy().update(str(n))`` per number);
  the process's CPU time per solution.
- ``chromium_seconds_per_place(level, samples)``: a page of its own, served from a temp
  folder by a small server on 127.0.0.1, runs the fan page's own solver (static/pow.js
  and pow-worker.js, the very files) on real challenges, in Debian's Chromium through
  Playwright; each solve timed in the page (median and mean of the wall time). Every
  proof is checked by ``Challenges.accept``, so a broken solver cannot look fast.
- ``chromium_hash_rates()``: numbers a second of one pow-worker.js against a loop of
  ``crypto.subtle.digest`` on the same messages (why the worker hashes in plain JS).

Run it as ``python -m boxoffice_bench.challenge_cost [samples]``: one line per level.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import http.server
import json
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

from boxoffice.queue.challenge import ChallengeLevel, Challenges, MemoryReplays

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
LINE = "default"
SECRET = "challenge-cost-bench-secret-key-0123456789"
SOLVER_FILES = ("pow.js", "pow-worker.js")
PAGE = """<!doctype html><meta charset="utf-8"><title>challenge cost</title>
<script type="module">
import { solve } from "./pow.js";
window.solveTimed = async (challenge) => {
  const started = performance.now();
  const proof = await solve(challenge);
  return { proof, seconds: (performance.now() - started) / 1000 };
};
window.ready = true;
</script>
"""


def _challenges() -> Challenges:
    return Challenges(secret_key=SECRET, ttl_seconds=3600, replays=MemoryReplays())


def solve_in_python(challenge: dict[str, object]) -> int:
    """The number, found as a plain script would find it."""
    base = hashlib.sha256(str(challenge["salt"]).encode())
    target = bytes.fromhex(str(challenge["challenge"]))
    for n in range(int(str(challenge["maxnumber"])) + 1):
        h = base.copy()
        h.update(str(n).encode())
        if h.digest() == target:
            return n
    raise ValueError("no number solves this challenge")


def python_cpu_seconds_per_place(level: ChallengeLevel | str, samples: int) -> float:
    """Mean process CPU-seconds a script spends per solution at this level."""
    challenges = _challenges()
    level = ChallengeLevel(level)
    spent = 0.0
    for user_id in range(samples):
        challenge = challenges.issue(user_id=user_id, line=LINE, level=level, now=time.time())
        started = time.process_time()
        solve_in_python(challenge)
        spent += time.process_time() - started
    return spent / samples


@dataclass(frozen=True)
class Timing:
    median: float
    mean: float
    samples: int


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def _solver_page() -> Iterator[str]:
    """The fan page's solver files and a page that times them, served on 127.0.0.1 (a
    secure context, as crypto.subtle needs); its URL."""
    with tempfile.TemporaryDirectory() as folder:
        static = files("boxoffice.web") / "static"
        for name in SOLVER_FILES:
            (Path(folder) / name).write_bytes((static / name).read_bytes())
        (Path(folder) / "index.html").write_text(PAGE)
        handler = functools.partial(_Quiet, directory=folder)
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}/index.html"
        finally:
            server.shutdown()
            server.server_close()


async def chromium_seconds_per_place(
    level: ChallengeLevel | str, samples: int, *, executable: str = CHROMIUM
) -> Timing:
    """A fan's wait for a solution at this level in Chromium (wall time, all cores)."""
    from playwright.async_api import async_playwright

    challenges = _challenges()
    level = ChallengeLevel(level)
    took: list[float] = []
    with _solver_page() as url:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=executable, args=CHROMIUM_ARGS
            )
            try:
                page = await browser.new_page()
                await page.goto(url)
                await page.wait_for_function("window.ready === true")
                for user_id in range(samples):
                    now = time.time()
                    challenge = challenges.issue(user_id=user_id, line=LINE, level=level, now=now)
                    result = await page.evaluate("(c) => window.solveTimed(c)", challenge)
                    await challenges.accept(result["proof"], user_id=user_id, line=LINE, now=now)
                    took.append(float(result["seconds"]))
            finally:
                await browser.close()
    return Timing(median=statistics.median(took), mean=statistics.fmean(took), samples=samples)


RATES_SCRIPT = """async ({ salt, count }) => {
  const impossible = "0".repeat(64);
  const worker = new Worker("./pow-worker.js");
  let started = performance.now();
  await new Promise((resolve) => {
    worker.onmessage = ({ data }) => data.number !== undefined && resolve();
    worker.postMessage({ salt, challenge: impossible, start: 0, end: count - 1 });
  });
  const worker_rate = count / ((performance.now() - started) / 1000);
  worker.terminate();
  const encoder = new TextEncoder();
  const few = Math.floor(count / 10);
  started = performance.now();
  for (let n = 0; n < few; n++) await crypto.subtle.digest("SHA-256", encoder.encode(salt + n));
  const subtle_rate = few / ((performance.now() - started) / 1000);
  return { worker: worker_rate, subtle: subtle_rate };
}"""


async def chromium_hash_rates(
    count: int = 2_000_000, *, executable: str = CHROMIUM
) -> dict[str, float]:
    """Numbers a second: one pow-worker.js, and crypto.subtle.digest awaited in a loop."""
    from playwright.async_api import async_playwright

    salt = str(
        _challenges().issue(user_id=1, line=LINE, level=ChallengeLevel.LOW, now=time.time())["salt"]
    )
    with _solver_page() as url:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=executable, args=CHROMIUM_ARGS
            )
            try:
                page = await browser.new_page()
                await page.goto(url)
                rates = await page.evaluate(RATES_SCRIPT, {"salt": salt, "count": count})
            finally:
                await browser.close()
    return {name: float(rate) for name, rate in rates.items()}


def python_hash_rate(count: int = 2_000_000) -> float:
    """Numbers a CPU-second of the script's loop."""
    base = hashlib.sha256(b"0123456789abcdef01234567?expires=1&user=1&line=default&level=low&")
    started = time.process_time()
    for n in range(count):
        h = base.copy()
        h.update(str(n).encode())
        h.digest()
    return count / (time.process_time() - started)


def proof_number(proof: str) -> int:
    return int(json.loads(base64.b64decode(proof))["number"])


async def _main(samples: int) -> None:
    print(f"python: {python_hash_rate() / 1e6:.2f} M numbers per CPU-second")
    rates = await chromium_hash_rates()
    print(
        f"chromium: one worker {rates['worker'] / 1e6:.2f} M/s, "
        f"crypto.subtle {rates['subtle'] / 1e6:.2f} M/s"
    )
    for level in (ChallengeLevel.LOW, ChallengeLevel.MEDIUM, ChallengeLevel.HIGH):
        cpu = python_cpu_seconds_per_place(level, samples)
        timing = await chromium_seconds_per_place(level, samples)
        print(
            f"{level.value:>6}: python {cpu:.2f} CPU-s/place (mean of {samples}); "
            f"chromium median {timing.median:.2f} s, mean {timing.mean:.2f} s"
        )


if __name__ == "__main__":
    if shutil.which(CHROMIUM) is None:
        sys.exit(f"no Chromium at {CHROMIUM}")
    asyncio.run(_main(int(sys.argv[1]) if len(sys.argv) > 1 else 20))
