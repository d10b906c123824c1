"""Orders: several seats of one schedule held together (every seat or none) and paid
together. An order has no state of its own: what it is follows from its seats'
reservations as of the moment it is read."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from boxoffice.reservations.model import Reservation, ReservationStatus


class OrderStatus(StrEnum):
    HELD = "HELD"
    CONFIRMED = "CONFIRMED"
    EXPIRED = "EXPIRED"
    CANCELLED = "CANCELLED"
    REFUNDED = "REFUNDED"


def order_status(statuses: Iterable[ReservationStatus]) -> OrderStatus:
    """One status for the seats' statuses: theirs when they agree; else CONFIRMED while
    any seat is paid and not refunded (a seat or more refunded on its own), HELD while
    any hold is live, REFUNDED when every paid seat was refunded, and CANCELLED or
    EXPIRED for holds that ended unpaid."""
    seen = set(statuses)
    for status in (
        ReservationStatus.CONFIRMED,
        ReservationStatus.HELD,
        ReservationStatus.REFUNDED,
        ReservationStatus.CANCELLED,
    ):
        if status in seen:
            return OrderStatus(status.value)
    return OrderStatus.EXPIRED


@dataclass(frozen=True, slots=True)
class Order:
    order_id: int
    user_id: int
    schedule_id: int
    reservations: list[Reservation]

    @property
    def status(self) -> OrderStatus:
        return order_status(r.status for r in self.reservations)

    @property
    def held_until(self) -> datetime:
        return min(r.held_until for r in self.reservations)

    @property
    def total(self) -> int:
        return sum(r.price for r in self.reservations)

    @property
    def concert_id(self) -> int:
        return self.reservations[0].concert_id

    def as_of(self, now: datetime) -> Order:
        return Order(
            self.order_id, self.user_id, self.schedule_id, [r.as_of(now) for r in self.reservations]
        )


@dataclass(frozen=True, slots=True)
class SeatAsked:
    """A seat an order asks for, found in its schedule: whether it is free to hold."""

    seat_id: int
    seat_number: int
    price: int
    free: bool


def missing(asked: Iterable[int], found: Iterable[int]) -> list[int]:
    """The seats asked for that the schedule does not have, in the order asked."""
    have = set(found)
    return [seat for seat in asked if seat not in have]
