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
