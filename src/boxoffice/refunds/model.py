"""Refund rules: a fan may hand a ticket back until a cutoff before the show."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class RefundStatus(StrEnum):
    REFUNDED = "REFUNDED"


def refunds_close_at(*, concert_at: datetime, cutoff: timedelta) -> datetime:
    return concert_at - cutoff


def refund_open(*, concert_at: datetime, cutoff: timedelta, now: datetime) -> bool:
    return now < refunds_close_at(concert_at=concert_at, cutoff=cutoff)


@dataclass(frozen=True, slots=True)
class RefundResult:
    reservation_id: int
    user_id: int
    amount: int
    status: RefundStatus
    refunded_at: datetime
    balance: int
    transaction_id: int
    # The ticket's concert, for the instance's catalog cache (not in the answer).
    concert_id: int = 0


@dataclass(frozen=True, slots=True)
class Cancellation:
    """A cancelled schedule: every ticket it ever refunded, however often it was asked."""

    schedule_id: int
    concert_id: int
    cancelled_at: datetime
    refunded: int
    refunded_amount: int
    refunded_now: int
