"""Paying for a hold: the hold confirmed, the seat sold, the wallet debited, the
ledger and the payment written, or none of it (on SQLite in one transaction, on
PostgreSQL in one statement, shared with other fans' payments of the same moment).
``checkout`` is the whole use case a fan's payment request is: the gate, the payment,
the end of the visit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pydantic import TypeAdapter

from boxoffice.errors import TokenExpired
from boxoffice.idempotency import service as idempotency
from boxoffice.idempotency.repository import Remember
from boxoffice.idempotency.service import Outcome
from boxoffice.payments import repository
from boxoffice.payments.model import PaymentResult, PaymentStatus
from boxoffice.payments.repository import Sale, Selling
from boxoffice.queue.model import Sells
from boxoffice.queue.service import QueuePass, WaitingRoom, require_sold_through
from boxoffice.reservations import service as reservations
from boxoffice.storage.batcher import Together
from boxoffice.storage.db import Database
from boxoffice.storage.errors import Conflict, Transient
from boxoffice.storage.query import Conn
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
    together: PaymentBatches | None = None,
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
        together=together,
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
    together: PaymentBatches | None = None,
) -> tuple[Outcome[PaymentResult], int | None]:
    """The payment, and how many live holds the fan has left after it (None when the
    answer was a replay). On PostgreSQL, shared with other fans' payments of the same
    moment when ``together`` is given."""
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
    elif together is None:
        outcome = await idempotency.run_remembering(db, request, action=apply, alone=True)
    else:

        async def first() -> Outcome[PaymentResult]:
            selling = Selling(reservation_id, queue_pass.user_id, now, request.remember)
            sale = await together.sell(selling, sells)
            if _changed_under_it(sale):  # the shared statement wrote nothing for it
                sale = await together.alone(selling, sells)
            paid = _paid_by(sale, selling, sells)
            if paid is None:
                async with db.statement() as conn:
                    raise await reservations.why_not_payable(
                        conn, user_id=queue_pass.user_id, reservation_id=reservation_id
                    )
            holds_left.append(paid[1])
            return Outcome(paid[0], 201, replayed=False)

        outcome = await idempotency.or_the_first_answer(first(), db, request)
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
    paid = _paid_by(sale, Selling(reservation_id, user_id, now, remember), sells)
    if paid is None:
        raise await reservations.why_not_payable(
            conn, user_id=user_id, reservation_id=reservation_id
        )
    return paid


def _paid_by(sale: Sale | None, selling: Selling, sells: Sells) -> tuple[PaymentResult, int] | None:
    """The payment a one-statement sale made, and the fan's other live holds; None
    when the reservation was not a live hold of the fan's (the caller reads why).
    Any other refusal is raised: what the statement wrote stands, and the checks only
    name the refusal when it wrote nothing (the line's concerts, asked again here,
    may have changed meanwhile)."""
    if sale is not None and sale.balance is not None and sale.payment_id is not None:
        paid = _paid(
            reservation_id=selling.reservation_id,
            user_id=selling.user_id,
            payment_id=sale.payment_id,
            amount=sale.price,
            balance=sale.balance,
            concert_id=sale.concert_id,
            now=selling.now,
        )
        return paid, sale.other_holds
    if sale is None or not sale.live:
        return None
    require_sold_through(sells, sale.concert_id)
    if not sale.seat_held:
        raise reservations.seat_lost(selling.reservation_id)
    if not sale.covered:
        raise wallet.short_of(sale.price)
    # Every guard held in the statement's snapshot, but the hold had changed by the
    # time it was confirmed: nothing was written, and it is run again.
    raise Transient(repository.CHANGED_UNDER_IT)


def _changed_under_it(sale: Sale | None) -> bool:
    """Every guard held in the statement's snapshot, yet nothing was written."""
    return (
        sale is not None
        and sale.payment_id is None
        and sale.live
        and sale.sells
        and sale.seat_held
        and sale.covered
    )


class PaymentBatches:
    """Payments on PostgreSQL arriving in the same turn of the event loop: those of
    distinct fans on lines that sell the same concerts are one statement
    (``repository.sell_each``), each under every guard a payment alone has
    (``boxoffice.storage.batcher.Together``); a fan's second payment of the moment runs alone
    after it, so it reads the balance the first left. A key already remembered fails
    the statement whole, as does a sale begun but not finished once its retries are
    spent: then each payment runs alone, to be answered as it would have been. A fan
    whose hold changed between the statement's snapshot and its write is sold again
    alone (``alone``). A shared statement whose connection was lost is run again only
    when every payment in it has a key, as a payment alone is."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._together: Together[_Asked, int, Sale] = Together(
            together=self._shared,
            alone=self._alone,
            who=lambda asked: asked.selling.user_id,
            group=lambda asked: asked.sells.key(),
            unchanged=(Conflict, Transient),
        )

    async def sell(self, selling: Selling, sells: Sells) -> Sale | None:
        """What the sale found and did; None when the fan has no such reservation."""
        return await self._together.submit(_Asked(selling, sells))

    async def _shared(self, asked: list[_Asked]) -> dict[int, Sale]:
        sells = asked[0].sells

        async def apply(conn: Conn) -> dict[int, Sale]:
            return await repository.sell_each(conn, [a.selling for a in asked], sells=sells)

        keyed = all(a.selling.remember is not None for a in asked)
        return await self._db.run_statement(apply, retry_lost=keyed)

    async def alone(self, selling: Selling, sells: Sells) -> Sale | None:
        """The sale in a statement of its own, run again while its hold changes under it."""
        return await self._alone(_Asked(selling, sells))

    async def _alone(self, asked: _Asked) -> Sale | None:
        selling = asked.selling

        async def apply(conn: Conn) -> Sale | None:
            sale = await repository.sell(
                conn,
                reservation_id=selling.reservation_id,
                user_id=selling.user_id,
                sells=asked.sells,
                now=selling.now,
                remember=selling.remember,
            )
            if _changed_under_it(sale):
                raise Transient(repository.CHANGED_UNDER_IT)  # nothing written: again
            return sale

        return await self._db.run_statement(apply, retry_lost=selling.remember is not None)

    async def close(self) -> None:
        """Wait for the payments already sent."""
        await self._together.close()


@dataclass(frozen=True, slots=True)
class _Asked:
    selling: Selling
    sells: Sells


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
