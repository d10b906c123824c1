from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field

from boxoffice.http.schemas import MAX_INT64, ApiModel
from boxoffice.wallet.model import EntryType


class ChargeRequest(ApiModel):
    amount: Annotated[
        int, Field(strict=True, ge=1, le=MAX_INT64, description="Points to add (1..MAX_CHARGE).")
    ]


class WalletPublic(ApiModel):
    user_id: int
    balance: int


class ChargePublic(ApiModel):
    user_id: int
    balance: int
    charged: int
    transaction_id: int


class TransactionPublic(ApiModel):
    transaction_id: int
    type: EntryType
    amount: int = Field(description="Signed: positive for CHARGE and REFUND, negative for PAYMENT.")
    balance_after: int
    created_at: datetime


class TransactionList(ApiModel):
    items: list[TransactionPublic]
