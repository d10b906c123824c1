"""Hold rules: a hold is live until ``held_until`` and not a moment after."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from boxoffice.reservations.holds import is_live_hold


class ReservationStatus(StrEnum):
    HELD = "HELD"
    CONFIRMED = "CONFIRMED"
    EXPIRED = "EXPIRED"
    CANCELLED = "CANCELLED"
    REFUNDED = "REFUNDED"


@dataclass(frozen=True, slots=True)
class SeatPlace:
    """Where a seat is, as a ticket shows it: the venue and its time zone, the seat's
    section, row, label and grade."""

    venue: str
    time_zone: str
    section: str
    row: str
    label: str
    grade: str


@dataclass(frozen=True, slots=True)
class Reservation:
    reservation_id: int
    user_id: int
    concert_id: int
    concert_title: str
    schedule_id: int
    concert_at: datetime
    seat_id: int
    seat_number: int
    price: int
    status: ReservationStatus
    held_until: datetime
    show_cancelled: bool = False
    order_id: int | None = None
    place: SeatPlace | None = None

    @property
    def where(self) -> SeatPlace:
        """Where the seat is (a seat of the simple form, when the read did not say)."""
        return self.place or SeatPlace(
            "", "Asia/Seoul", "Floor", "1", str(self.seat_number), "General"
        )

    @property
    def venue(self) -> str:
        return self.where.venue

    @property
    def time_zone(self) -> str:
        return self.where.time_zone

    @property
    def section(self) -> str:
        return self.where.section

    @property
    def row(self) -> str:
        return self.where.row

    @property
    def label(self) -> str:
        return self.where.label

    @property
    def grade(self) -> str:
        return self.where.grade

    def as_of(self, now: datetime) -> Reservation:
        """The reservation as a fan sees it at ``now``: an unpaid hold past its time
        reads EXPIRED even though no job has touched its row."""
        return replace(self, status=status_at(self.status, held_until=self.held_until, now=now))


def status_at(
    stored: ReservationStatus, *, held_until: datetime, now: datetime
) -> ReservationStatus:
    if stored is ReservationStatus.HELD and not is_live_hold(held_until=held_until, now=now):
        return ReservationStatus.EXPIRED
    return stored
