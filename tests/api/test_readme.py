"""The README's curl walk-through, run as written against `boxoffice serve`."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOXOFFICE_")}
    boxoffice = Path(sys.executable).parent / "boxoffice"
    proc = subprocess.Popen(
        [str(boxoffice), "serve", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/readyz").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            pytest.fail("boxoffice serve did not become ready")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        assert (tmp_path / "boxoffice.db").exists()


def _walkthrough() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## A fan's visit", 1)[1]
    match = re.search(r"```sh\n(.*?)```", section, re.S)
    assert match, "the README lost its curl walk-through"
    return match.group(1)


def test_the_readme_walkthrough_works_as_written(served: str) -> None:
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", _walkthrough()],
        env={**os.environ, "BOXOFFICE_URL": served},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert '"status":"COMPLETED"' in result.stdout
    assert '"status":"CONFIRMED"' in result.stdout
    assert '"type":"PAYMENT"' in result.stdout
