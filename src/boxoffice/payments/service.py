"""Paying for a hold: one transaction confirms the hold, sells the seat, debits the
wallet, writes the ledger and the payment, or does none of it."""

from __future__ import annotations

from datetime import datetime

from pydantic import TypeAdapter
from sqlalchemy.ext.asyncio import AsyncConnection

from boxoffice.db import Database
from boxoffice.idempotency import service as idempotency
from boxoffice.idempotency.service import Outcome
from boxoffice.payments import repository
from boxoffice.payments.model import PaymentResult, PaymentStatus
from boxoffice.reservations import service as reservations
from boxoffice.wallet import service as wallet

_adapter = TypeAdapter(PaymentResult)


def _fingerprint(reservation_id: int) -> str:
    return idempotency.fingerprint("payment", {"reservationId": reservation_id})


async def replay(
    *, db: Database, user_id: int, reservation_id: int, idempotency_key: str
) -> Outcome[PaymentResult] | None:
    """The answer already given to this key, if any; checked before the queue gate
    because a successful payment spends the token that a retry still carries."""
    return await idempotency.find(
        db,
        user_id=user_id,
        key=idempotency_key,
        request_fingerprint=_fingerprint(reservation_id),
        adapter=_adapter,
    )


async def pay(
    *,
    db: Database,
    user_id: int,
    reservation_id: int,
    idempotency_key: str | None,
    now: datetime,
) -> Outcome[PaymentResult]:
    async def apply(conn: AsyncConnection) -> PaymentResult:
        reservation = await reservations.confirm(
            conn, user_id=user_id, reservation_id=reservation_id, now=now
        )
        balance = await wallet.pay_from(
            conn,
            user_id=user_id,
            amount=reservation.price,
            reservation_id=reservation_id,
            now=now,
        )
        payment_id = await repository.add(
            conn, reservation_id=reservation_id, user_id=user_id, amount=reservation.price, now=now
        )
        return PaymentResult(
            payment_id=payment_id,
            reservation_id=reservation_id,
            user_id=user_id,
            amount=reservation.price,
            status=PaymentStatus.COMPLETED,
            paid_at=now,
            balance=balance,
        )

    return await idempotency.run_once(
        db=db,
        user_id=user_id,
        key=idempotency_key,
        request_fingerprint=_fingerprint(reservation_id),
        status_code=201,
        adapter=_adapter,
        now=now,
        action=apply,
    )
