"""Paying for a hold: the hold confirmed, the seat sold, the wallet debited, the
ledger and the payment written, or none of it (``payments.writers`` says how on each
database). ``checkout`` is the whole use case a fan's payment request is: the gate,
the payment, the end of the visit."""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

from boxoffice.errors import TokenExpired
from boxoffice.idempotency import service as idempotency
from boxoffice.idempotency.service import Outcome
from boxoffice.payments import order_sale
from boxoffice.payments.model import OrderPaymentResult, PaymentResult
from boxoffice.payments.repository import Sale, Selling
from boxoffice.payments.sale_statement import CHANGED_UNDER_IT
from boxoffice.payments.writers import ANSWER, ORDER_ANSWER, SaleWriter
from boxoffice.queue.model import Sells
from boxoffice.queue.service import QueuePass, WaitingRoom, require_sold_through
from boxoffice.reservations import service as reservations
from boxoffice.storage.db import Database
from boxoffice.storage.errors import Transient
from boxoffice.storage.query import Conn
from boxoffice.tokens import QueueClaims
from boxoffice.wallet import service as wallet

T = TypeVar("T")


def _request(
    user_id: int, reservation_id: int, key: str | None
) -> idempotency.Keyed[PaymentResult]:
    return idempotency.Keyed(
        user_id=user_id,
        key=key,
        fingerprint=idempotency.fingerprint("payment", {"reservationId": reservation_id}),
        status_code=201,
        adapter=ANSWER,
    )


async def checkout(
    *,
    db: Database,
    sales: SaleWriter,
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
    request = _request(claims.user_id, reservation_id, idempotency_key)
    queue_pass = await _admitted_or_replay(db, waiting_room, claims, request)
    if isinstance(queue_pass, Outcome):
        return queue_pass
    outcome, holds_left = await pay(
        db=db,
        sales=sales,
        request=request,
        queue_pass=queue_pass,
        sells=waiting_room.sells(queue_pass),
        reservation_id=reservation_id,
        now=now,
    )
    await _end_of_visit(waiting_room, queue_pass, outcome, holds_left)
    return outcome


async def checkout_order(
    *,
    db: Database,
    waiting_room: WaitingRoom,
    claims: QueueClaims,
    order_id: int,
    idempotency_key: str | None,
    now: datetime,
) -> Outcome[OrderPaymentResult]:
    """``checkout`` for a whole order: every seat paid or none, in one transaction
    that also remembers the answer under the ``Idempotency-Key``."""
    request = idempotency.Keyed(
        user_id=claims.user_id,
        key=idempotency_key,
        fingerprint=idempotency.fingerprint("payment", {"orderId": order_id}),
        status_code=201,
        adapter=ORDER_ANSWER,
    )
    queue_pass = await _admitted_or_replay(db, waiting_room, claims, request)
    if isinstance(queue_pass, Outcome):
        return queue_pass
    sells, holds_left = waiting_room.sells(queue_pass), []

    async def action(conn: Conn) -> OrderPaymentResult:
        paid, left = await order_sale.pay_order(
            conn, order_id=order_id, user_id=queue_pass.user_id, now=now, sells=sells
        )
        holds_left.append(left)
        return paid

    outcome = await idempotency.run_once(db, request, now=now, action=action)
    await _end_of_visit(waiting_room, queue_pass, outcome, holds_left[-1] if holds_left else None)
    return outcome


async def _admitted_or_replay(
    db: Database, waiting_room: WaitingRoom, claims: QueueClaims, request: idempotency.Keyed[T]
) -> QueuePass | Outcome[T]:
    """The fan's admitted pass; or, for a token no longer live, the first answer to
    this request's key if it has one."""
    try:
        return await waiting_room.check(claims=claims, admitted=True)
    except TokenExpired:
        if request.key is not None:
            earlier = await idempotency.find(
                db,
                user_id=claims.user_id,
                key=request.key,
                request_fingerprint=request.fingerprint,
                adapter=request.adapter,
            )
            if earlier is not None:
                return earlier
        raise


async def _end_of_visit(
    waiting_room: WaitingRoom, queue_pass: QueuePass, outcome: Outcome[Any], holds_left: int | None
) -> None:
    """After a first answer: the sale told to the line, the token spent once no live
    hold is left."""
    if outcome.replayed:
        return
    await waiting_room.after_sale(queue_pass=queue_pass)
    if holds_left == 0:
        await waiting_room.spend(queue_pass=queue_pass)


async def pay(
    *,
    db: Database,
    sales: SaleWriter,
    request: idempotency.Keyed[PaymentResult],
    queue_pass: QueuePass,
    sells: Sells,
    reservation_id: int,
    now: datetime,
) -> tuple[Outcome[PaymentResult], int | None]:
    """The payment, and how many live holds the fan has left after it (None when the
    answer was a replay)."""
    selling = Selling(reservation_id, queue_pass.user_id, now, request.remember)
    holds_left: list[int] = []

    async def first() -> Outcome[PaymentResult]:
        sale = await sales.sell(selling, sells)
        paid = None if sale is None else sale.paid(selling)
        if sale is None or paid is None:
            await _refuse(db, sale, selling, sells)
        assert sale is not None and paid is not None
        holds_left.append(sale.other_holds)
        return Outcome(paid, 201, replayed=False)

    outcome = await idempotency.or_the_first_answer(first(), db, request)
    return outcome, None if outcome.replayed else holds_left[-1]


async def _refuse(db: Database, sale: Sale | None, selling: Selling, sells: Sells) -> None:
    """Why a sale that wrote nothing was refused, in the order its guards are named:
    the hold (read again: paid, refunded, lapsed or another's), the line (asked again
    here: its concerts may have changed meanwhile), the seat, the balance."""
    if sale is None or not sale.live:
        async with db.statement() as conn:
            raise await reservations.why_not_payable(
                conn,
                user_id=selling.user_id,
                reservation_id=selling.reservation_id,
                now=selling.now,
            )
    require_sold_through(sells, sale.concert_id)
    if not sale.seat_held:
        raise reservations.seat_lost(selling.reservation_id)
    if not sale.covered:
        raise wallet.short_of(sale.price)
    raise Transient(CHANGED_UNDER_IT)  # every guard held, and it still wrote nothing
