"""Several boxoffice instances behind one sale, as a deployment runs them: the first
on a fresh database and key prefix, the others joining it (``BenchServer.sibling``),
each a process of its own on a port of its own with its own mirror of the line,
all sharing PostgreSQL and Redis. And their own timings: each instance's
request-duration histogram read before and after, by instance and summed (the
instances' buckets added, which is the histogram of every request they served)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path

import aiohttp

from boxoffice_bench import server_timing
from boxoffice_bench.server import BenchServer
from boxoffice_bench.server_timing import Buckets, ServerTiming, bound_text


@contextlib.contextmanager
def running(first: BenchServer, count: int, logs: Path) -> Iterator[list[BenchServer]]:
    """``first`` and ``count - 1`` instances joining it on the ports after its own,
    started in turn (the first migrates the database before the others start);
    stopped in reverse, the first last, which drops the database and the keys."""
    servers = [first, *(first.sibling(first.port + n) for n in range(1, count))]
    started: list[BenchServer] = []
    try:
        for n, server in enumerate(servers):
            started.append(server)
            server.start(logs / ("server.log" if n == 0 else f"server-{n + 1}.log"))
        yield servers
    finally:
        for server in reversed(started):
            server.stop()


async def read_all(session: aiohttp.ClientSession, servers: Sequence[BenchServer]) -> list[Buckets]:
    return [await server_timing.read(session, server.url) for server in servers]


def _summed(each: list[Buckets]) -> Buckets:
    """The instances' histograms as one: every bucket's count added across them (the
    bounds are the same in every instance)."""
    total: dict[tuple[str, str], dict[float, float]] = {}
    for buckets in each:
        for where, counts in buckets.items():
            into = total.setdefault(where, {})
            for bound, count in counts:
                into[bound] = into.get(bound, 0.0) + count
    return {where: sorted(counts.items()) for where, counts in total.items()}


def between(
    before: list[Buckets], after: list[Buckets]
) -> tuple[list[ServerTiming], list[list[ServerTiming]]]:
    """Every instance's requests between the reads, summed, and each instance's own
    (empty for a single instance: the sum is its own)."""
    summed = server_timing.between(_summed(before), _summed(after))
    if len(after) == 1:
        return summed, []
    return summed, [server_timing.between(b, a) for b, a in zip(before, after, strict=True)]


def timing_lines(summed: list[ServerTiming], each: list[list[ServerTiming]]) -> list[str]:
    """The report's table of the calls as the servers timed them; with several
    instances, their sum and each instance's own side by side."""
    if not summed:
        return []
    intro = (
        "The same calls as the server timed them (reading a request to sending its answer,"
        " by its request-duration histogram: a bucket's bound):"
    )
    if not each:
        return [
            "",
            intro,
            "",
            "| route | requests | p50 | p99 |",
            "|---|---:|---:|---:|",
            *(
                f"| `{t.method} {t.route}` | {t.requests:,} | {bound_text(t.p50_at_most)} "
                f"| {bound_text(t.p99_at_most)} |"
                for t in summed
            ),
        ]
    by_instance = [{(t.method, t.route): t for t in timings} for timings in each]
    heads = "".join(f" instance {n} |" for n in range(1, len(each) + 1))
    rows = []
    for t in summed:
        cells = "".join(_cell(instance.get((t.method, t.route))) for instance in by_instance)
        rows.append(
            f"| `{t.method} {t.route}` | {t.requests:,} | {bound_text(t.p50_at_most)} "
            f"| {bound_text(t.p99_at_most)} |{cells}"
        )
    return [
        "",
        "The same calls as the servers timed them (reading a request to sending its"
        " answer, by each instance's request-duration histogram: a bucket's bound): the"
        f" {len(each)} instances together (their buckets added), then each instance's own"
        " (requests: p50 / p99):",
        "",
        "| route | requests | p50 | p99 |" + heads,
        "|---|---:|---:|---:|" + "---:|" * len(each),
        *rows,
    ]


def _cell(timing: ServerTiming | None) -> str:
    if timing is None:
        return " — |"
    return (
        f" {timing.requests:,}: {bound_text(timing.p50_at_most)} /"
        f" {bound_text(timing.p99_at_most)} |"
    )
