from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field, model_validator

from boxoffice.http.schemas import ApiModel, EntityId
from boxoffice.orders.model import OrderStatus
from boxoffice.reservations.schemas import ReservationPublic, SeatNumber

# At most this many seats in one request; the fan's hold limit is the real bound.
MOST_SEATS = 100


class OrderCreate(ApiModel):
    """Name the seats by `seatIds` or by `seatNumbers` within the schedule, not both;
    each seat once."""

    schedule_id: Annotated[EntityId, Field(strict=True)]
    seat_ids: (
        Annotated[
            list[Annotated[EntityId, Field(strict=True)]],
            Field(min_length=1, max_length=MOST_SEATS),
        ]
        | None
    ) = None
    seat_numbers: Annotated[list[SeatNumber], Field(min_length=1, max_length=MOST_SEATS)] | None = (
        None
    )

    @model_validator(mode="after")
    def _one_way(self) -> OrderCreate:
        if (self.seat_ids is None) == (self.seat_numbers is None):
            raise ValueError("give exactly one of seatIds and seatNumbers")
        asked = self.seat_ids or self.seat_numbers or []
        if len(set(asked)) != len(asked):
            raise ValueError("each seat may be asked for once")
        return self


class OrderPublic(ApiModel):
    order_id: int
    schedule_id: int
    status: OrderStatus
    held_until: datetime = Field(description="When the holds lapse unless paid.")
    total: int = Field(description="The sum of the seats' prices.")
    reservations: list[ReservationPublic]
