"""Paying for a hold: the hold confirmed, the seat sold, the wallet debited, the
ledger and the payment written, or none of it (on SQLite in one transaction, on
PostgreSQL in one statement). ``checkout`` is the
whole use case a fan's payment request is: the gate, the payment, the end of the visit."""

from __future__ import annotations

from datetime import datetime

from pydantic import TypeAdapter

from boxoffice.db import Database
from boxoffice.errors import TokenExpired
from boxoffice.idempotency import service as idempotency
from boxoffice.idempotency.repository import Remember
from boxoffice.idempotency.service import Outcome
from boxoffice.payments import repository
from boxoffice.payments.model import PaymentResult, PaymentStatus
from boxoffice.query import Conn
from boxoffice.queue.model import Sells
from boxoffice.queue.service import QueuePass, WaitingRoom, require_sold_through
from boxoffice.reservations import service as reservations
from boxoffice.storage_errors import Transient
from boxoffice.tokens import QueueClaims
from boxoffice.wallet import service as wallet

_adapter = TypeAdapter(PaymentResult)


def _fingerprint(reservation_id: int) -> str:
    return idempotency.fingerprint("payment", {"reservationId": reservation_id})


async def checkout(
    *,
    db: Database,
    waiting_room: WaitingRoom,
    claims: QueueClaims,
    reservation_id: int,
    idempotency_key: str | None,
    now: datetime,
) -> Outcome[PaymentResult]:
    """Gate, pay, and end the visit once no live hold is left. A payment spends the
    token its retry still carries, so a retry whose token is no longer live gets the
    first answer back when its ``Idempotency-Key`` has one (a live token's retry is
    replayed by the payment itself)."""
    try:
        queue_pass = await waiting_room.check(claims=claims, admitted=True)
    except TokenExpired:
        if idempotency_key is not None:
            earlier = await idempotency.find(
                db,
                user_id=claims.user_id,
                key=idempotency_key,
                request_fingerprint=_fingerprint(reservation_id),
                adapter=_adapter,
            )
            if earlier is not None:
                return earlier
        raise
    outcome, holds_left = await pay(
        db=db,
        waiting_room=waiting_room,
        queue_pass=queue_pass,
        reservation_id=reservation_id,
        idempotency_key=idempotency_key,
        now=now,
    )
    if not outcome.replayed:
        await waiting_room.after_sale(queue_pass=queue_pass)
        if holds_left == 0:
            await waiting_room.spend(queue_pass=queue_pass)
    return outcome


async def pay(
    *,
    db: Database,
    waiting_room: WaitingRoom,
    queue_pass: QueuePass,
    reservation_id: int,
    idempotency_key: str | None,
    now: datetime,
) -> tuple[Outcome[PaymentResult], int | None]:
    """The payment, and how many live holds the fan has left after it (None when the
    answer was a replay)."""
    holds_left: list[int] = []

    sells = waiting_room.sells(queue_pass)

    async def apply(conn: Conn, remember: Remember | None = None) -> PaymentResult:
        sell = _sell_in_one_statement if conn.modifying_with else _sell_step_by_step
        paid, other_holds = await sell(
            conn,
            user_id=queue_pass.user_id,
            reservation_id=reservation_id,
            sells=sells,
            now=now,
            remember=remember,
        )
        holds_left.append(other_holds)
        return paid

    request = idempotency.Keyed(
        user_id=queue_pass.user_id,
        key=idempotency_key,
        fingerprint=_fingerprint(reservation_id),
        status_code=201,
        adapter=_adapter,
    )
    if db.is_sqlite:
        outcome = await idempotency.run_once(db, request, now=now, action=apply)
    else:
        outcome = await idempotency.run_remembering(db, request, action=apply, alone=True)
    return outcome, None if outcome.replayed else holds_left[-1]


async def _sell_step_by_step(
    conn: Conn,
    *,
    user_id: int,
    reservation_id: int,
    sells: Sells,
    now: datetime,
    remember: Remember | None = None,
) -> tuple[PaymentResult, int]:
    """The sale a statement at a time, in the caller's transaction: the payment, and
    the fan's other live holds. Its answer is remembered by ``run_once``'s statement
    of its own, never here."""
    assert remember is None, "a sale step by step does not remember its answer itself"
    confirmed = await reservations.confirm(
        conn,
        user_id=user_id,
        reservation_id=reservation_id,
        now=now,
        check_concert=lambda concert_id: require_sold_through(sells, concert_id),
    )
    balance = await wallet.pay_from(
        conn, user_id=user_id, amount=confirmed.price, reservation_id=reservation_id, now=now
    )
    payment_id = await repository.add(
        conn, reservation_id=reservation_id, user_id=user_id, amount=confirmed.price, now=now
    )
    paid = _paid(
        reservation_id=reservation_id,
        user_id=user_id,
        payment_id=payment_id,
        amount=confirmed.price,
        balance=balance,
        concert_id=confirmed.concert_id,
        now=now,
    )
    return paid, confirmed.other_holds


async def _sell_in_one_statement(
    conn: Conn,
    *,
    user_id: int,
    reservation_id: int,
    sells: Sells,
    now: datetime,
    remember: Remember | None = None,
) -> tuple[PaymentResult, int]:
    """The same sale as one statement, all or nothing, refused with the same errors
    in the same order. What the statement wrote stands: the checks below only name
    the refusal when it wrote nothing (the line's concerts, asked again here, may
    have changed meanwhile)."""
    sale = await repository.sell(
        conn,
        reservation_id=reservation_id,
        user_id=user_id,
        sells=sells,
        now=now,
        remember=remember,
    )
    if sale is not None and sale.balance is not None and sale.payment_id is not None:
        paid = _paid(
            reservation_id=reservation_id,
            user_id=user_id,
            payment_id=sale.payment_id,
            amount=sale.price,
            balance=sale.balance,
            concert_id=sale.concert_id,
            now=now,
        )
        return paid, sale.other_holds
    if sale is None or not sale.live:
        raise await reservations.why_not_payable(
            conn, user_id=user_id, reservation_id=reservation_id
        )
    require_sold_through(sells, sale.concert_id)
    if not sale.seat_held:
        raise reservations.seat_lost(reservation_id)
    if not sale.covered:
        raise wallet.short_of(sale.price)
    # Every guard held in the statement's snapshot, but the hold had changed by the
    # time it was confirmed: nothing was written, and it is run again.
    raise Transient(repository.CHANGED_UNDER_IT)


def _paid(
    *,
    reservation_id: int,
    user_id: int,
    payment_id: int,
    amount: int,
    balance: int,
    concert_id: int,
    now: datetime,
) -> PaymentResult:
    """The answer to a payment that went through, however it was sold."""
    return PaymentResult(
        payment_id=payment_id,
        reservation_id=reservation_id,
        user_id=user_id,
        amount=amount,
        status=PaymentStatus.COMPLETED,
        paid_at=now,
        balance=balance,
        concert_id=concert_id,
    )
