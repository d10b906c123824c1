from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field, model_validator

from boxoffice.http.schemas import ApiModel, EntityId
from boxoffice.reservations.model import ReservationStatus

SeatNumber = Annotated[int, Field(strict=True, ge=1, le=1_000_000)]


class ReservationCreate(ApiModel):
    """Name the seat by `seatId` or by `seatNumber` within the schedule, not both."""

    schedule_id: Annotated[EntityId, Field(strict=True)]
    seat_id: Annotated[EntityId, Field(strict=True)] | None = None
    seat_number: SeatNumber | None = None

    @model_validator(mode="after")
    def _one_seat(self) -> ReservationCreate:
        if (self.seat_id is None) == (self.seat_number is None):
            raise ValueError("give exactly one of seatId and seatNumber")
        return self


class ReservationPublic(ApiModel):
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
    order_id: int | None = Field(description="The order it was held in; null: held alone.")
    venue: str
    time_zone: str = Field(description="The venue's IANA time zone, to show `concertAt` in.")
    section: str
    row: str
    label: str = Field(description="The seat as the venue names it, e.g. `A-12`.")
    grade: str
