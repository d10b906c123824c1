"""What the operator's sales view counts: per schedule, and per concert as the sum of
its schedules. A cancelled schedule is off sale: its tickets were refunded and none of
its seats can be bought, so it counts nothing as held or available."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class ScheduleSales:
    schedule_id: int
    concert_id: int
    concert_at: datetime
    total_seats: int
    sold: int
    held: int
    available: int
    revenue: int
    cancelled_at: datetime | None = None


def schedule_counts(*, total: int, sold: int, free: int, cancelled: bool) -> tuple[int, int, int]:
    """(sold, held, available) of a schedule whose ``free`` seats are neither sold nor
    under a live hold: on sale they add up to ``total``; cancelled, only sold seats
    count (none, once its refunds are done)."""
    if cancelled:
        return sold, 0, 0
    return sold, total - sold - free, free


@dataclass(frozen=True, slots=True)
class ConcertSales:
    concert_id: int
    title: str
    venue: str
    schedules: list[ScheduleSales] = field(default_factory=list)

    @property
    def sold(self) -> int:
        return sum(s.sold for s in self.schedules)

    @property
    def held(self) -> int:
        return sum(s.held for s in self.schedules)

    @property
    def available(self) -> int:
        return sum(s.available for s in self.schedules)

    @property
    def revenue(self) -> int:
        return sum(s.revenue for s in self.schedules)
