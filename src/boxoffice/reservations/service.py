"""Hold use cases. Who gets a seat is decided by one conditional UPDATE in the
database; nothing here keeps a lock of its own."""

from __future__ import annotations

from datetime import datetime, timedelta

from boxoffice.catalog.model import is_bookable
from boxoffice.errors import (
    AlreadyPaid,
    AlreadyRefunded,
    DomainError,
    HoldExpired,
    HoldLimitReached,
    NotPaid,
    PartOfOrder,
    ReservationNotFound,
    ScheduleNotFound,
    SeatNotFound,
    SeatUnavailable,
    UserNotFound,
)
from boxoffice.queue.model import Sells
from boxoffice.queue.service import WaitingRoom, require_sold_through
from boxoffice.reservations import reads, refund_repository, repository
from boxoffice.reservations.hold_statement import HoldAsk
from boxoffice.reservations.model import Reservation, ReservationStatus
from boxoffice.reservations.refund_repository import Refunded
from boxoffice.reservations.writers import HoldWriter
from boxoffice.storage.db import Database
from boxoffice.storage.query import Conn
from boxoffice.tokens import QueueClaims


async def hold_admitted(
    *,
    holds: HoldWriter,
    waiting_room: WaitingRoom,
    claims: QueueClaims,
    schedule_id: int,
    seat_id: int | None,
    seat_number: int | None,
    now: datetime,
    hold_for: timedelta,
    max_holds: int,
) -> Reservation:
    """The whole use case a fan's hold request is: the gate (an admitted queue token,
    for a concert its line sells), then the hold."""
    admitted = await waiting_room.check(claims=claims, admitted=True)
    return await hold_seat(
        holds=holds,
        user_id=admitted.user_id,
        schedule_id=schedule_id,
        seat_id=seat_id,
        seat_number=seat_number,
        now=now,
        hold_for=hold_for,
        max_holds=max_holds,
        sells=waiting_room.sells(admitted),
    )


async def hold_seat(
    *,
    holds: HoldWriter,
    user_id: int,
    schedule_id: int,
    seat_id: int | None,
    seat_number: int | None,
    now: datetime,
    hold_for: timedelta,
    max_holds: int,
    sells: Sells,
) -> Reservation:
    """Hold a seat, every guard checked before anything is written (``holds`` says
    how: see ``reservations.writers``). What it wrote stands; when it wrote nothing,
    the refusals, in this order: no such fan, schedule, line, seat; the hold limit;
    the seat taken. (The line's concerts, asked again here, may have changed
    meanwhile: then the refusal is the seat's.)"""
    until = now + hold_for
    found = await holds.hold(
        HoldAsk(user_id, schedule_id, seat_id, seat_number, until, now, max_holds), sells
    )
    if found.reservation_id is not None:
        assert found.target is not None
        return found.target.held(found.reservation_id, user_id=user_id, until=until)
    if found.fan_holds is None:
        raise UserNotFound("the token names a user that does not exist")
    target = found.target
    if target is None or target.cancelled or not is_bookable(concert_at=target.concert_at, now=now):
        raise ScheduleNotFound(f"no bookable schedule {schedule_id}")
    require_sold_through(sells, target.concert_id)
    if target.seat_id is None:
        which = f"id {seat_id}" if seat_id is not None else f"number {seat_number}"
        raise SeatNotFound(f"schedule {schedule_id} has no seat with {which}")
    if found.fan_holds >= max_holds:
        raise HoldLimitReached(f"a fan may hold at most {max_holds} seats at once")
    raise SeatUnavailable("someone else holds or bought this seat")


async def get_own(*, db: Database, user_id: int, reservation_id: int, now: datetime) -> Reservation:
    async with db.statement() as conn:
        reservation = await reads.get(conn, reservation_id=reservation_id)
    if reservation is None or reservation.user_id != user_id:
        raise ReservationNotFound(f"you have no reservation {reservation_id}")
    return reservation.as_of(now)


async def release(*, db: Database, user_id: int, reservation_id: int, now: datetime) -> int | None:
    """Give a held seat back at once; the concert whose seat was freed. Releasing a
    lapsed or released hold is a no-op (None); a paid one is refused, also when its
    payment commits while this release runs."""

    async def work(conn: Conn) -> int | None:
        seat_id = await repository.end_hold(
            conn,
            reservation_id=reservation_id,
            user_id=user_id,
            status=ReservationStatus.CANCELLED,
            now=now,
        )
        if seat_id is not None:
            return await repository.free_seat(conn, seat_id=seat_id, reservation_id=reservation_id)
        # Read after the UPDATE, which waited for any payment of this row to finish.
        reservation = await reads.get(conn, reservation_id=reservation_id)
        if reservation is None or reservation.user_id != user_id:
            raise ReservationNotFound(f"you have no reservation {reservation_id}")
        if reservation.status is ReservationStatus.CONFIRMED:
            raise AlreadyPaid("a paid reservation cannot be released")
        return None

    return await db.run(work)


def seat_lost(reservation_id: int) -> HoldExpired:
    """A confirmed hold whose seat it no longer covers: the payment is refused."""
    return HoldExpired(f"the hold on reservation {reservation_id} no longer covers the seat")


async def why_not_payable(
    conn: Conn, *, user_id: int, reservation_id: int, now: datetime
) -> Exception:
    """The error a payment gets for a reservation its confirmation did not take."""
    reservation = await reads.get(conn, reservation_id=reservation_id)
    if reservation is None or reservation.user_id != user_id:
        return ReservationNotFound(f"you have no reservation {reservation_id}")
    if reservation.status is ReservationStatus.CONFIRMED:
        return AlreadyPaid(f"reservation {reservation_id} is already paid")
    if reservation.status is ReservationStatus.REFUNDED:
        return AlreadyPaid(f"reservation {reservation_id} was paid and refunded")
    if reservation.show_cancelled:
        return HoldExpired(f"the show of reservation {reservation_id} was cancelled")
    if reservation.order_id is not None and reservation.as_of(now).status is ReservationStatus.HELD:
        return PartOfOrder(
            f"reservation {reservation_id} is held in order {reservation.order_id}: pay the order"
        )
    return HoldExpired(f"the hold on reservation {reservation_id} has lapsed or was released")


async def find(conn: Conn, *, reservation_id: int) -> Reservation | None:
    """A reservation by id, whoever owns it, inside the caller's transaction."""
    return await reads.get(conn, reservation_id=reservation_id)


async def refund(conn: Conn, *, reservation_id: int, now: datetime) -> Refunded:
    """Turn a sale back into an AVAILABLE seat, inside the caller's transaction. Of two
    refunds of one reservation, however they race, one finds it CONFIRMED."""
    refunded = await refund_repository.refund(conn, reservation_id=reservation_id, now=now)
    if refunded is not None:
        return refunded
    again = await reads.get(conn, reservation_id=reservation_id)
    raise not_refundable(reservation_id, None if again is None else again.status)


def not_refundable(reservation_id: int, status: ReservationStatus | None) -> DomainError:
    """Why a reservation that is not CONFIRMED cannot be refunded."""
    if status is ReservationStatus.REFUNDED:
        return AlreadyRefunded(f"reservation {reservation_id} is already refunded")
    return NotPaid(f"reservation {reservation_id} is not paid, so there is nothing to refund")


async def refund_schedule(conn: Conn, *, schedule_id: int, now: datetime) -> list[Refunded]:
    """Refund every paid seat of a schedule and release its holds, inside the caller's
    transaction; what this call refunded (nothing, the second time)."""
    return await refund_repository.refund_schedule(conn, schedule_id=schedule_id, now=now)


async def refunded_of_schedule(conn: Conn, *, schedule_id: int) -> tuple[int, int]:
    return await refund_repository.refunded_of_schedule(conn, schedule_id=schedule_id)
