"""Prometheus metrics, one registry per app so several apps can live in one process.

Under ``boxoffice serve --workers N`` each worker is a process of its own, and a
scrape reaches one of them: ``boxoffice.http.server`` then names a folder in
``PROMETHEUS_MULTIPROC_DIR`` before the workers start, each worker's values go to
files there, and every worker's ``/metrics`` reads all of them (the Prometheus
client's multiprocess mode): counters and histograms summed over the workers, live
and gone, so they never go backwards; gauges as their ``multiprocess_mode`` says.
"""

from __future__ import annotations

import os
import time
from collections.abc import MutableMapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.multiprocess import MultiProcessCollector
from starlette.types import Scope

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"


def _registries() -> tuple[CollectorRegistry, CollectorRegistry | None]:
    """The registry ``/metrics`` reads, and the one the process's metrics join: the same
    one, but under several workers. Their metrics then write to files, which the first
    reads with every other worker's; registered there too, they would be read twice."""
    exposed = CollectorRegistry()
    shared = os.environ.get(MULTIPROCESS_DIR)
    if not shared:
        return exposed, exposed
    MultiProcessCollector(exposed, path=shared)  # type: ignore[no-untyped-call]
    return exposed, None


class Metrics:
    """Under several workers, a line's gauges are the latest reading of any worker (all
    read the one line), and a dependency is up while every live worker reaches it."""

    def __init__(self) -> None:
        self.registry, registry = _registries()
        self.requests = Counter(
            "boxoffice_http_requests",
            "HTTP requests by route template, method and status",
            ["method", "route", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "boxoffice_http_request_duration_seconds",
            "HTTP request latency by route template",
            ["method", "route"],
            registry=registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
        self.waiting = Gauge(
            "boxoffice_queue_waiting",
            "Fans waiting in line",
            ["line"],
            registry=registry,
            multiprocess_mode="livemostrecent",
        )
        self.admitted = Gauge(
            "boxoffice_queue_admitted",
            "Fans admitted and active",
            ["line"],
            registry=registry,
            multiprocess_mode="livemostrecent",
        )
        self._health(registry)
        self.holds = Counter("boxoffice_holds", "Seats held", registry=registry)
        self.payments = Counter("boxoffice_payments", "Payments completed", registry=registry)
        self.points_paid = Counter(
            "boxoffice_points_paid", "Points taken by payments", registry=registry
        )
        self.refused = Counter(
            "boxoffice_refused",
            "Requests refused to keep the line fair, by reason (a limit, a missing proof "
            "of work, an address at its places cap)",
            ["reason"],
            registry=registry,
        )
        self.gc_pauses = Histogram(
            "boxoffice_gc_pause_seconds",
            "Pauses of the serving process for garbage collection, by generation",
            ["generation"],
            registry=registry,
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1),
        )

    def _health(self, registry: CollectorRegistry | None) -> None:
        """How this instance finds what it depends on."""
        self.dependency_up = Gauge(
            "boxoffice_dependency_up",
            "1 while the dependency (database, waitingRoom) answers this instance",
            ["dependency"],
            registry=registry,
            multiprocess_mode="livemin",
        )
        self.mirror_synced = Gauge(
            "boxoffice_queue_mirror_synced",
            "1 while this instance's mirror of the line is whole (polls answered from "
            "memory); 0 while it loads, when polls are asked of Redis",
            ["line"],
            registry=registry,
            multiprocess_mode="livemin",
        )
        self.clock_offset = Gauge(
            "boxoffice_clock_offset_seconds",
            "How far this host's wall clock runs ahead of the store's (database, redis); "
            "boxoffice keeps time by the store's",
            ["store"],
            registry=registry,
            multiprocess_mode="livemostrecent",
        )
        self.tick_failures = Counter(
            "boxoffice_background_tick_failures",
            "Background ticks that failed (storage unreachable)",
            registry=registry,
        )


class GcPauses:
    """A ``gc.callbacks`` entry that times each collection into ``Metrics.gc_pauses``
    (the process's own collector: installed once, by the serving process)."""

    def __init__(self, metrics: Metrics) -> None:
        self._by_generation = [metrics.gc_pauses.labels(str(g)) for g in range(3)]
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self._by_generation[info["generation"]].observe(time.perf_counter() - self._started)


class RouteMetrics:
    """Counts and times every request under its route template (``/concerts/{id}``),
    so the label set stays small whatever ids clients send (a ``RequestRecord``)."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self._templates: dict[int, str] = {}  # by id(route): routes live as long as the app
        # The labelled series each (method, route, status) feeds, found once: looking a
        # series up by its labels costs more than counting into it.
        self._series: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    def __call__(self, scope: Scope, status: int, seconds: float) -> None:
        matched = scope.get("route")
        route = self._templates.get(id(matched)) if matched is not None else "unmatched"
        if route is None:
            route = self._templates[id(matched)] = _route_template(scope)
        key = (scope["method"], route, status)
        series = self._series.get(key)
        if series is None:
            method = key[0]
            series = self._series[key] = (
                self.metrics.requests.labels(method, route, str(status)),
                self.metrics.latency.labels(method, route),
            )
        series[0].inc()
        series[1].observe(seconds)

    def close(self) -> None:
        return None


def _route_template(scope: MutableMapping[str, Any]) -> str:
    """The full template of the matched route. An included router's route knows only
    its own part (``/reservations/{reservation_id}``), so the prefix is recovered from
    the requested path, whose tail is that part with the raw parameters filled in."""
    template = getattr(scope.get("route"), "path", None)
    if not isinstance(template, str):
        return "unmatched"
    rendered = template
    for name, value in scope.get("path_params", {}).items():
        rendered = rendered.replace("{" + name + "}", str(value))
    path: str = scope.get("path", "")
    if rendered and path.endswith(rendered):
        return path[: len(path) - len(rendered)] + template
    return template
