from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AwareDatetime, Field, StringConstraints

from boxoffice.catalog.model import Concert, Schedule, SeatMap, SeatStatus
from boxoffice.schemas import MAX_INT64, ApiModel

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class ConcertPublic(ApiModel):
    concert_id: int
    title: str
    venue: str

    @classmethod
    def of(cls, concert: Concert) -> ConcertPublic:
        return cls(concert_id=concert.concert_id, title=concert.title, venue=concert.venue)


class ConcertList(ApiModel):
    items: list[ConcertPublic]


class SchedulePublic(ApiModel):
    schedule_id: int
    concert_at: datetime
    total_seats: int
    available_seats: int

    @classmethod
    def of(cls, s: Schedule) -> SchedulePublic:
        return cls(
            schedule_id=s.schedule_id,
            concert_at=s.concert_at,
            total_seats=s.total_seats,
            available_seats=s.available_seats,
        )


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
        return cls(
            concert_id=m.schedule.concert_id,
            schedule_id=m.schedule.schedule_id,
            concert_at=m.schedule.concert_at,
            total_seats=m.schedule.total_seats,
            available_seats=m.schedule.available_seats,
            seats=[
                SeatPublic(
                    seat_id=s.seat_id, seat_number=s.seat_number, price=s.price, status=s.status
                )
                for s in m.seats
            ],
        )


class ConcertCreate(ApiModel):
    title: Text
    venue: Text


class ScheduleCreate(ApiModel):
    concert_at: AwareDatetime = Field(description="With a UTC offset, e.g. 2026-12-24T19:00:00Z.")
    seat_count: Annotated[int, Field(strict=True, ge=1, le=10_000)] = 50
    price: Annotated[int, Field(strict=True, ge=0, le=MAX_INT64)]
