"""`/metrics` of `boxoffice serve --workers 2`: one instance's counts, whichever worker
a scrape reaches."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import httpx

from tests.conftest import REDIS_URL
from tests.integration.instances import BOXOFFICE, free_port, instance_env, wait_ready

REQUESTS = 40
SCRAPES = 12
HEALTHZ = re.compile(
    r'^boxoffice_http_requests_total\{method="GET",route="/healthz",status="200"\} ([\d.e+]+)$',
    re.MULTILINE,
)


def healthz_requests(url: str) -> float:
    """The count of GET /healthz in one scrape, on a connection of its own (so that
    scrapes land on either worker, as a load balancer's would)."""
    scrape = httpx.get(f"{url}/metrics")
    assert scrape.status_code == 200
    counts = HEALTHZ.findall(scrape.text)
    assert len(counts) == 1, scrape.text  # one series, whatever the number of workers
    return float(counts[0])


def test_a_counter_counts_every_workers_requests_and_never_goes_backwards(
    postgres_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = instance_env(
        database_url=postgres_url,
        redis_url=REDIS_URL,
        redis_prefix=redis_prefix,
        admin_token="metrics-test-admin-token-0123456789",
    )
    # serve's own temporary files go here, to be seen gone afterwards.
    env["TMPDIR"] = str(tmp_path / "tmp")
    (tmp_path / "tmp").mkdir()
    log = tmp_path / "serve.log"
    proc = subprocess.Popen(
        [BOXOFFICE, "serve", "--workers", "2", "--port", str(port)],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        wait_ready(url, proc, log)
        for _ in range(REQUESTS):
            # A connection each: the kernel hands them to either worker.
            assert httpx.get(f"{url}/healthz").status_code == 200
        scrapes = [healthz_requests(url) for _ in range(SCRAPES)]
    finally:
        proc.terminate()
        proc.wait(timeout=40)
    assert all(count >= REQUESTS for count in scrapes), scrapes
    assert scrapes == sorted(scrapes), scrapes
    assert proc.returncode == 0
    # The folder the workers shared their counts in is gone with them.
    assert list((tmp_path / "tmp").iterdir()) == []
