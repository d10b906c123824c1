from __future__ import annotations

from datetime import datetime

from pydantic import Field

from boxoffice.http.schemas import ApiModel
from boxoffice.refunds.model import RefundStatus


class RefundPublic(ApiModel):
    reservation_id: int
    user_id: int
    amount: int = Field(description="Points given back: the price paid.")
    status: RefundStatus
    refunded_at: datetime
    balance: int = Field(description="The wallet balance after the refund.")
    transaction_id: int = Field(description="The REFUND entry in the ledger.")


class CancellationPublic(ApiModel):
    schedule_id: int
    concert_id: int
    cancelled_at: datetime
    refunded: int = Field(description="Tickets of this schedule refunded, by any call.")
    refunded_amount: int
    refunded_now: int = Field(description="Tickets this call refunded (0 on a retry).")
