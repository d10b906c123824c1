"""Refund use cases: a fan hands a ticket back, the operator refunds one, or cancels a
show and refunds all of it. Each is one transaction that marks the reservation
REFUNDED, puts the seat back on sale and gives the price back as a REFUND entry; the
reservation's guarded UPDATE makes each refund happen exactly once however requests
race, and an Idempotency-Key replays the first answer to a retry."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from pydantic import TypeAdapter

from boxoffice.catalog import service as catalog
from boxoffice.errors import RefundClosed, ReservationNotFound
from boxoffice.idempotency import service as idempotency
from boxoffice.idempotency.service import Outcome
from boxoffice.refunds.model import Cancellation, RefundResult, RefundStatus, refund_open
from boxoffice.reservations import service as reservations
from boxoffice.reservations.model import Reservation, ReservationStatus
from boxoffice.reservations.refund_repository import Refunded
from boxoffice.storage.db import Database
from boxoffice.storage.query import Conn
from boxoffice.wallet import service as wallet

_adapter = TypeAdapter(RefundResult)


async def refund_ticket(
    *,
    db: Database,
    user_id: int,
    reservation_id: int,
    idempotency_key: str | None,
    cutoff: timedelta,
    now: datetime,
) -> Outcome[RefundResult]:
    """A fan's refund of their own ticket, until the cutoff before the show."""

    def allowed(reservation: Reservation) -> None:
        if reservation.user_id != user_id:
            raise ReservationNotFound(f"you have no reservation {reservation_id}")
        if reservation.status is not ReservationStatus.CONFIRMED:  # said before the cutoff
            raise reservations.not_refundable(reservation_id, reservation.status)
        if not refund_open(concert_at=reservation.concert_at, cutoff=cutoff, now=now):
            raise RefundClosed(
                f"refunds close {cutoff.total_seconds() / 3600:g} hours before the show"
            )

    return await _refund(
        db=db,
        owner=user_id,
        scope="refund",
        reservation_id=reservation_id,
        idempotency_key=idempotency_key,
        now=now,
        allowed=allowed,
    )


async def refund_by_operator(
    *, db: Database, reservation_id: int, idempotency_key: str | None, now: datetime
) -> Outcome[RefundResult]:
    """The operator refunds any ticket at any time (a show that cannot go on)."""
    async with db.statement() as conn:
        reservation = await reservations.find(conn, reservation_id=reservation_id)
    if reservation is None:
        raise ReservationNotFound(f"no reservation {reservation_id}")
    return await _refund(
        db=db,
        owner=reservation.user_id,
        scope="operator-refund",
        reservation_id=reservation_id,
        idempotency_key=idempotency_key,
        now=now,
        allowed=lambda _reservation: None,
    )


async def _refund(
    *,
    db: Database,
    owner: int,
    scope: str,
    reservation_id: int,
    idempotency_key: str | None,
    now: datetime,
    allowed: Callable[[Reservation], None],
) -> Outcome[RefundResult]:

    async def apply(conn: Conn) -> RefundResult:
        reservation = await reservations.find(conn, reservation_id=reservation_id)
        if reservation is None:
            raise ReservationNotFound(f"no reservation {reservation_id}")
        allowed(reservation)
        refunded = await reservations.refund(conn, reservation_id=reservation_id, now=now)
        balance, entry_id = await wallet.refund_to(
            conn,
            user_id=refunded.user_id,
            amount=refunded.price,
            reservation_id=reservation_id,
            now=now,
        )
        return RefundResult(
            reservation_id=reservation_id,
            user_id=refunded.user_id,
            amount=refunded.price,
            status=RefundStatus.REFUNDED,
            refunded_at=now,
            balance=balance,
            transaction_id=entry_id,
            concert_id=reservation.concert_id,
        )

    request = idempotency.Keyed(
        user_id=owner,
        key=idempotency_key,
        fingerprint=idempotency.fingerprint(scope, {"reservationId": reservation_id}),
        status_code=200,
        adapter=_adapter,
    )
    return await idempotency.run_once(db, request, now=now, action=apply)


async def cancel_schedule(*, db: Database, schedule_id: int, now: datetime) -> Cancellation:
    """Cancel a show: it leaves the sale, its holds are released and every ticket is
    refunded, in one transaction. Asked again, it refunds nobody twice and answers
    with the same totals."""

    async def work(conn: Conn) -> Cancellation:
        concert_id, cancelled_at = await catalog.cancel_schedule(
            conn, schedule_id=schedule_id, now=now
        )
        refunded = await reservations.refund_schedule(conn, schedule_id=schedule_id, now=now)
        # Wallets in the order of their fans' ids, as a shared payment locks them.
        await give_back(conn, sorted(refunded, key=lambda t: (t.user_id, t.reservation_id)), now)
        count, amount = await reservations.refunded_of_schedule(conn, schedule_id=schedule_id)
        return Cancellation(
            schedule_id=schedule_id,
            concert_id=concert_id,
            cancelled_at=cancelled_at,
            refunded=count,
            refunded_amount=amount,
            refunded_now=len(refunded),
        )

    return await db.run(work)


async def give_back(conn: Conn, tickets: Iterable[Refunded], now: datetime) -> None:
    """Each refunded ticket's price back into its fan's wallet, in the order given (the
    order the wallets are locked in)."""
    for ticket in tickets:
        await wallet.refund_to(
            conn,
            user_id=ticket.user_id,
            amount=ticket.price,
            reservation_id=ticket.reservation_id,
            now=now,
        )
