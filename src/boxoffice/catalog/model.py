"""Catalog rules: what a seat's state is and which schedules can be booked."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import ColumnElement, and_

from boxoffice.reservations.holds import SqlNow, is_live_hold


class SeatStatus(StrEnum):
    AVAILABLE = "AVAILABLE"
    HELD = "HELD"
    SOLD = "SOLD"


@dataclass(frozen=True, slots=True)
class Concert:
    concert_id: int
    title: str
    venue: str
    time_zone: str


@dataclass(frozen=True, slots=True)
class Schedule:
    schedule_id: int
    concert_id: int
    concert_at: datetime
    total_seats: int
    available_seats: int


@dataclass(frozen=True, slots=True)
class ScheduleListing:
    concert_id: int
    time_zone: str
    schedules: list[Schedule]


@dataclass(frozen=True, slots=True)
class Grade:
    """A schedule's grade: its price, and how many of its seats are available."""

    grade: str
    price: int
    available_seats: int


@dataclass(frozen=True, slots=True)
class NewSchedule:
    """A schedule just made: all its seats available."""

    schedule_id: int
    concert_id: int
    concert_at: datetime
    total_seats: int
    available_seats: int
    grades: list[Grade]


@dataclass(frozen=True, slots=True)
class Seat:
    seat_id: int
    seat_number: int
    price: int
    status: SeatStatus
    section: str
    row: str
    label: str
    grade: str

    @property
    def is_available(self) -> bool:
        return self.status is SeatStatus.AVAILABLE


@dataclass(frozen=True, slots=True)
class SeatMap:
    schedule: Schedule
    venue: str
    time_zone: str
    grades: list[Grade]
    seats: list[Seat]


def graded(prices: list[tuple[str, int]], seats: list[Seat]) -> list[Grade]:
    """Each grade (in the plan's order) with its available seats among ``seats``."""
    available = Counter(seat.grade for seat in seats if seat.is_available)
    return [Grade(grade=g, price=p, available_seats=available[g]) for g, p in prices]


def seat_status(*, sold: bool, held_until: datetime | None, now: datetime) -> SeatStatus:
    if sold:
        return SeatStatus.SOLD
    if is_live_hold(held_until=held_until, now=now):
        return SeatStatus.HELD
    return SeatStatus.AVAILABLE


def is_bookable(*, concert_at: datetime, now: datetime) -> bool:
    return concert_at > now


def on_sale(
    concert_at: ColumnElement[datetime], cancelled_at: ColumnElement[datetime], now: SqlNow
) -> ColumnElement[bool]:
    """A schedule that can be booked, in SQL: not cancelled, and ``is_bookable``."""
    return and_(concert_at > now, cancelled_at.is_(None))
