"""The hot path: status polls, joins and seat maps against a bare endpoint that
returns the same JSON from the same server, all measured by wrk in one run."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from boxoffice.bench.fixtures import make_concert, make_fans, write_tokens
from boxoffice.bench.server import BenchServer
from boxoffice.bench.wrk import WrkResult, run_wrk

TARGETS = {"status": 0.80, "join": 0.40, "seat map": 0.50}


def run_hot_path(server: BenchServer, *, seconds: int, workdir: Path) -> list[WrkResult]:
    api = f"{server.url}/api/v1"
    concert_id, [schedule_id] = make_concert(server.url, schedules=1, seats=50, price=10_000)
    (admitted_id, admitted), (_, waiting), *joiners = asyncio.run(
        make_fans(server.database_url, 2 + 6_000 * seconds)
    )
    with httpx.Client(timeout=30) as client:
        tokens = []
        for access in (admitted, waiting):
            r = client.post(f"{api}/queue/tokens", headers={"Authorization": f"Bearer {access}"})
            r.raise_for_status()
            tokens.append(r.json()["token"])
    admitted_queue, waiting_queue = tokens
    rotate = write_tokens(workdir / "join-tokens.txt", joiners)

    print(f"hot-path: wrk, 1 thread, 64 connections, {seconds} s per endpoint")
    results = [
        run_wrk("ceiling", f"{server.url}/bench/ceiling", seconds=seconds, workdir=workdir),
        run_wrk(
            "status",
            f"{api}/queue/status",
            seconds=seconds,
            token=waiting_queue,
            workdir=workdir,
        ),
        run_wrk(
            "seat map",
            f"{api}/concerts/{concert_id}/schedules/{schedule_id}/seats",
            seconds=seconds,
            token=admitted_queue,
            workdir=workdir,
        ),
        run_wrk(
            "join",
            f"{api}/queue/tokens",
            seconds=seconds,
            rotate_tokens=rotate,
            method="POST",
            workdir=workdir,
        ),
    ]
    ceiling = results[0].requests_per_second
    for result in results:
        ratio = result.requests_per_second / ceiling
        target = TARGETS.get(result.name)
        verdict = (
            ""
            if target is None
            else f"  target {target:.0%}: {'met' if ratio >= target else 'NOT met'}"
        )
        print(
            f"  {result.name:9} {result.requests_per_second:9.0f} req/s"
            f"  p50 {result.p50_ms:6.2f} ms"
            f"  p99 {result.p99_ms:7.2f} ms  {ratio:6.1%} of ceiling"
            f"  non-2xx {result.non_2xx}{verdict}"
        )
    del admitted_id
    return results
