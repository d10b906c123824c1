"""Pure rules of the waiting room: who may be let in, where one stands, how long.

Nothing here reads the clock or does I/O; times are epoch seconds passed in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from enum import StrEnum

RATE_WINDOW_SECONDS = 60.0
MIN_POLL_SECONDS = 1
MAX_POLL_SECONDS = 15
FRONT_OF_LINE = 20
POSITIONS_PER_EXTRA_SECOND = 50


class QueueState(StrEnum):
    WAITING = "WAITING"
    ADMITTED = "ADMITTED"


@dataclass(frozen=True, slots=True)
class AdmissionRules:
    capacity: int
    per_minute: int
    paused: bool
    waiter_timeout: float
    admitted_idle: float

    def changed(
        self, *, capacity: int | None, per_minute: int | None, paused: bool | None
    ) -> AdmissionRules:
        return replace(
            self,
            capacity=self.capacity if capacity is None else capacity,
            per_minute=self.per_minute if per_minute is None else per_minute,
            paused=self.paused if paused is None else paused,
        )


@dataclass(frozen=True, slots=True)
class Ticket:
    """One user's place in line as the store sees it at one instant."""

    user_id: int
    jti: str
    seq: int
    issued_at: int
    token_expires_at: int
    state: QueueState
    position: int
    lapses_at: float


@dataclass(frozen=True, slots=True)
class LineStats:
    waiting: int
    admitted: int
    admitted_last_minute: int
    observed_seconds: float


def admissible(
    *, waiting: int, admitted: int, admitted_last_minute: int, rules: AdmissionRules
) -> int:
    """How many from the head of the line may be admitted now."""
    if rules.paused:
        return 0
    room = rules.capacity - admitted
    budget = rules.per_minute - admitted_last_minute
    return max(0, min(waiting, room, budget))


def is_stale(*, last_seen: float, now: float, timeout: float) -> bool:
    """A waiter silent for ``timeout`` seconds (or an admitted user idle as long) is gone."""
    return now - last_seen >= timeout


def lapses_at(*, state: QueueState, last_seen: float, rules: AdmissionRules) -> float:
    timeout = rules.admitted_idle if state is QueueState.ADMITTED else rules.waiter_timeout
    return last_seen + timeout


def measured_rate(stats: LineStats) -> float | None:
    """Admissions per second over the last minute (or as long as we have watched)."""
    if stats.admitted_last_minute <= 0:
        return None
    span = min(RATE_WINDOW_SECONDS, max(stats.observed_seconds, 1.0))
    return stats.admitted_last_minute / span


def estimate_wait(*, position: int, stats: LineStats, rules: AdmissionRules) -> int | None:
    """Seconds until admission at the measured pace; None while it cannot be known."""
    if position <= 0:
        return 0
    if rules.paused or rules.per_minute <= 0 or rules.capacity <= 0:
        return None
    rate = measured_rate(stats)
    if rate is None:
        return None
    rate = min(rate, rules.per_minute / RATE_WINDOW_SECONDS)
    return math.ceil(position / rate)


def poll_after(*, position: int, rules: AdmissionRules) -> int:
    """About a second near the front, growing to ~15 s far back, never so slow that a
    well-behaved client is dropped for silence."""
    ceiling = max(MIN_POLL_SECONDS, min(MAX_POLL_SECONDS, int(rules.waiter_timeout // 3)))
    if position <= 0:
        return ceiling
    if position <= FRONT_OF_LINE:
        seconds = MIN_POLL_SECONDS
    else:
        seconds = MIN_POLL_SECONDS + math.ceil(
            (position - FRONT_OF_LINE) / POSITIONS_PER_EXTRA_SECOND
        )
    return min(seconds, ceiling)
