from __future__ import annotations

from datetime import datetime

from pydantic import Field

from boxoffice.http.schemas import ApiModel
from boxoffice.reservations.model import ReservationStatus
from boxoffice.support.model import FanKind


class FanReservationPublic(ApiModel):
    reservation_id: int
    concert_id: int
    concert_title: str
    concert_at: datetime
    schedule_id: int
    seat_number: int
    price: int
    status: ReservationStatus = Field(
        description="As the fan sees it: a HELD reservation past `heldUntil` reads EXPIRED."
    )
    held_until: datetime
    order_id: int | None = Field(description="The order it was held in; null: held alone.")
    venue: str
    time_zone: str = Field(description="The venue's IANA time zone, to show `concertAt` in.")
    section: str
    row: str
    label: str
    grade: str


class FanPaymentPublic(ApiModel):
    payment_id: int
    reservation_id: int
    amount: int
    paid_at: datetime


class FanEntryPublic(ApiModel):
    transaction_id: int
    type: str
    amount: int
    balance_after: int
    created_at: datetime


class FanPublic(ApiModel):
    user_id: int
    name: str
    email: str | None
    kind: FanKind
    balance: int
    reservations: list[FanReservationPublic] = Field(description="Newest first, at most 200.")
    payments: list[FanPaymentPublic] = Field(description="Newest first, at most 200.")
    ledger: list[FanEntryPublic] = Field(description="Newest first, at most 200.")


class MyReservations(ApiModel):
    items: list[FanReservationPublic] = Field(description="Newest first, at most 200.")
