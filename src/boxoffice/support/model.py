"""A fan's record as the support desk reads it: pure data and the one rule of what
kind of fan someone is."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from boxoffice.reservations.model import Reservation

MOST = 200  # rows of each kind shown, newest first


class FanKind(StrEnum):
    GUEST = "guest"
    ACCOUNT = "account"
    EXTERNAL = "external"


def kind_of(*, email: str | None, external_id: str | None) -> FanKind:
    """A fan the site's identity provider signed in is external, one with an email an
    account, anyone else a guest."""
    if external_id is not None:
        return FanKind.EXTERNAL
    return FanKind.ACCOUNT if email is not None else FanKind.GUEST


@dataclass(frozen=True, slots=True)
class FanPayment:
    payment_id: int
    reservation_id: int
    amount: int
    paid_at: datetime


@dataclass(frozen=True, slots=True)
class FanEntry:
    transaction_id: int
    type: str
    amount: int
    balance_after: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class FanRecord:
    user_id: int
    name: str
    email: str | None
    kind: FanKind
    balance: int
    reservations: list[Reservation] = field(default_factory=list)
    payments: list[FanPayment] = field(default_factory=list)
    ledger: list[FanEntry] = field(default_factory=list)
