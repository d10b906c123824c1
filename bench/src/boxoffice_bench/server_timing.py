"""A drop's calls as the server's own request timer saw them: the difference between
two reads of its request-duration histogram (``/metrics``), before and after, by
route. The fans' figures count everything between a fan and the server, the load
generator's own delays included (it shares the machine); these count only the time
the app took from reading a request to sending its answer, and read as bounds: the
histogram's buckets are all it keeps."""

from __future__ import annotations

import math
from dataclasses import dataclass

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

HISTOGRAM = "boxoffice_http_request_duration_seconds"

# By (method, route): each bucket's upper bound and the requests at or under it.
Buckets = dict[tuple[str, str], list[tuple[float, float]]]


@dataclass(frozen=True)
class ServerTiming:
    method: str
    route: str
    requests: int
    p50_at_most: float  # seconds: the bucket bound the median falls under
    p99_at_most: float


def parse(exposition: str) -> Buckets:
    found: Buckets = {}
    for family in text_string_to_metric_families(exposition):
        if family.name != HISTOGRAM:
            continue
        for sample in family.samples:
            if sample.name == f"{HISTOGRAM}_bucket":
                where = (sample.labels["method"], sample.labels["route"])
                bound = float(sample.labels["le"])
                found.setdefault(where, []).append((bound, sample.value))
    return {where: sorted(buckets) for where, buckets in found.items()}


async def read(session: aiohttp.ClientSession, base_url: str) -> Buckets:
    async with session.get(f"{base_url}/metrics") as answer:
        answer.raise_for_status()
        return parse(await answer.text())


def between(before: Buckets, after: Buckets) -> list[ServerTiming]:
    """The requests timed after ``before`` was read and by the time ``after`` was,
    busiest route first."""
    timings = []
    for (method, route), buckets in after.items():
        earlier = dict(before.get((method, route), []))
        counts = [(bound, count - earlier.get(bound, 0.0)) for bound, count in buckets]
        total = counts[-1][1] if counts else 0.0
        if total <= 0:
            continue
        timings.append(
            ServerTiming(
                method,
                route,
                int(total),
                _at_most(counts, 0.5 * total),
                _at_most(counts, 0.99 * total),
            )
        )
    return sorted(timings, key=lambda t: -t.requests)


def _at_most(counts: list[tuple[float, float]], needed: float) -> float:
    for bound, count in counts:
        if count >= needed:
            return bound
    return math.inf


def bound_text(seconds: float) -> str:
    return "over the top bucket" if math.isinf(seconds) else f"≤ {seconds * 1000:g} ms"
