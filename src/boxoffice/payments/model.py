from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class PaymentStatus(StrEnum):
    COMPLETED = "COMPLETED"


@dataclass(frozen=True, slots=True)
class PaymentResult:
    payment_id: int
    reservation_id: int
    user_id: int
    amount: int
    status: PaymentStatus
    paid_at: datetime
    balance: int
    # The concert of the seat, for the instance's catalog cache (not in the answer).
    concert_id: int = 0


@dataclass(frozen=True, slots=True)
class OrderPaymentResult:
    """An order paid whole: one payment row per seat, the first named as the payment."""

    payment_id: int
    order_id: int
    reservation_ids: list[int]
    user_id: int
    amount: int
    status: PaymentStatus
    paid_at: datetime
    balance: int
    concert_id: int = 0
