from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated

from pydantic import Field

from boxoffice.catalog.model import SeatMap, SeatStatus
from boxoffice.http.schemas import MAX_INT64, ApiModel, Instant, Printable, Trimmed

Text = Annotated[str, Trimmed, Field(max_length=200), Printable]


class ConcertPublic(ApiModel):
    concert_id: int
    title: str
    venue: str


class ConcertList(ApiModel):
    items: list[ConcertPublic]


class SchedulePublic(ApiModel):
    schedule_id: int
    concert_at: datetime
    total_seats: int
    available_seats: int


class ScheduleList(ApiModel):
    concert_id: int
    schedules: list[SchedulePublic]


class ScheduleCreated(SchedulePublic):
    concert_id: int


class SeatPublic(ApiModel):
    seat_id: int
    seat_number: int
    price: int
    status: SeatStatus


class SeatMapPublic(ApiModel):
    concert_id: int
    schedule_id: int
    concert_at: datetime
    total_seats: int
    available_seats: int
    seats: list[SeatPublic]

    @classmethod
    def of(cls, m: SeatMap) -> SeatMapPublic:
        """A seat map's schedule fields sit at the top level of the answer."""
        return cls.model_validate({**asdict(m.schedule), "seats": m.seats})


class ConcertCreate(ApiModel):
    title: Text
    venue: Text


class ScheduleCreate(ApiModel):
    concert_at: Instant = Field(description="With a UTC offset, e.g. 2026-12-24T19:00:00Z.")
    seat_count: Annotated[int, Field(strict=True, ge=1, le=10_000)] = 50
    price: Annotated[int, Field(strict=True, ge=0, le=MAX_INT64)]
