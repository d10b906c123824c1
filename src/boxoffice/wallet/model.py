"""Money rules. Points are integers; the ledger records signed amounts, so a
balance always equals the sum of its entries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from boxoffice.errors import ValidationFailed


class EntryType(StrEnum):
    CHARGE = "CHARGE"
    PAYMENT = "PAYMENT"
    REFUND = "REFUND"


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    transaction_id: int
    type: EntryType
    amount: int
    balance_after: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ChargeResult:
    user_id: int
    balance: int
    charged: int
    transaction_id: int


def check_charge_amount(amount: int, *, max_charge: int) -> None:
    if not 1 <= amount <= max_charge:
        raise ValidationFailed(f"amount must be a whole number of points from 1 to {max_charge}")


def signed_amount(entry_type: EntryType, amount: int) -> int:
    """Charges and refunds add to the balance, payments take from it."""
    return -amount if entry_type is EntryType.PAYMENT else amount
