from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field

from boxoffice.http.schemas import ApiModel, EntityId
from boxoffice.payments.model import PaymentStatus


class PaymentCreate(ApiModel):
    reservation_id: Annotated[EntityId, Field(strict=True)]


class PaymentPublic(ApiModel):
    payment_id: int
    reservation_id: int
    user_id: int
    amount: int
    status: PaymentStatus
    paid_at: datetime
    balance: int = Field(description="The wallet balance after this payment.")
