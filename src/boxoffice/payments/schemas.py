from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field, RootModel, model_validator

from boxoffice.http.schemas import ApiModel, EntityId
from boxoffice.payments.model import PaymentStatus


class PaymentCreate(ApiModel):
    """Pay one held seat (`reservationId`) or a whole order (`orderId`), not both."""

    reservation_id: Annotated[EntityId, Field(strict=True)] | None = None
    order_id: Annotated[EntityId, Field(strict=True)] | None = None

    @model_validator(mode="after")
    def _one(self) -> PaymentCreate:
        if (self.reservation_id is None) == (self.order_id is None):
            raise ValueError("give exactly one of reservationId and orderId")
        return self


class PaymentPublic(ApiModel):
    payment_id: int
    reservation_id: int
    user_id: int
    amount: int
    status: PaymentStatus
    paid_at: datetime
    balance: int = Field(description="The wallet balance after this payment.")


class OrderPaymentPublic(ApiModel):
    payment_id: int
    order_id: int
    reservation_ids: list[int]
    user_id: int
    amount: int = Field(description="The order's total.")
    status: PaymentStatus
    paid_at: datetime
    balance: int = Field(description="The wallet balance after this payment.")


class PaymentAnswer(RootModel[PaymentPublic | OrderPaymentPublic]):
    """A payment's answer: of one seat, or of an order."""
