from __future__ import annotations

from datetime import datetime

from pydantic import Field

from boxoffice.http.schemas import ApiModel
from boxoffice.sales.model import ConcertSales, ScheduleSales


class ScheduleSalesPublic(ApiModel):
    schedule_id: int
    concert_at: datetime
    total_seats: int
    sold: int
    held: int = Field(description="Seats under a live hold: `heldUntil` still ahead.")
    available: int = Field(
        description="Seats on sale now: neither sold nor held (none once cancelled)."
    )
    revenue: int = Field(
        description="Points taken by payments for these seats, less refunded tickets."
    )
    cancelled_at: datetime | None = Field(
        description="When the operator cancelled the show (off sale, every ticket refunded); "
        "null while it is on."
    )

    @classmethod
    def of(cls, s: ScheduleSales) -> ScheduleSalesPublic:
        return cls(
            schedule_id=s.schedule_id,
            concert_at=s.concert_at,
            total_seats=s.total_seats,
            sold=s.sold,
            held=s.held,
            available=s.available,
            revenue=s.revenue,
            cancelled_at=s.cancelled_at,
        )


class ConcertSalesPublic(ApiModel):
    concert_id: int
    title: str
    venue: str
    sold: int
    held: int
    available: int
    revenue: int
    schedules: list[ScheduleSalesPublic]

    @classmethod
    def of(cls, c: ConcertSales) -> ConcertSalesPublic:
        return cls(
            concert_id=c.concert_id,
            title=c.title,
            venue=c.venue,
            sold=c.sold,
            held=c.held,
            available=c.available,
            revenue=c.revenue,
            schedules=[ScheduleSalesPublic.of(s) for s in c.schedules],
        )


class SalesPublic(ApiModel):
    concerts: list[ConcertSalesPublic]
