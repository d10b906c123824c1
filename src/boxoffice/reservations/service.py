"""Hold use cases. Who gets a seat is decided by one conditional UPDATE in the
database; nothing here keeps a lock of its own."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from boxoffice.catalog.model import is_bookable
from boxoffice.errors import (
    AlreadyPaid,
    AlreadyRefunded,
    DomainError,
    HoldExpired,
    HoldLimitReached,
    NotPaid,
    ReservationNotFound,
    ScheduleNotFound,
    SeatNotFound,
    SeatUnavailable,
    UserNotFound,
)
from boxoffice.queue.model import Sells
from boxoffice.queue.service import require_sold_through
from boxoffice.reservations import repository, sale_repository
from boxoffice.reservations.model import Reservation, ReservationStatus
from boxoffice.reservations.repository import HoldTarget
from boxoffice.reservations.sale_repository import Confirmed, Refunded
from boxoffice.storage.batcher import Together
from boxoffice.storage.db import Database
from boxoffice.storage.query import Conn
from boxoffice.users import service as users

# Raises when a queue token may not act for this concert (its line sells others).
ConcertCheck = Callable[[int], None]


async def hold_seat(
    *,
    db: Database,
    user_id: int,
    schedule_id: int,
    seat_id: int | None,
    seat_number: int | None,
    now: datetime,
    hold_for: timedelta,
    max_holds: int,
    sells: Sells,
    together: HoldBatches | None = None,
) -> Reservation:
    """Hold a seat: on PostgreSQL in one statement that checks every guard before it
    writes (shared with other fans' holds of the same moment when ``together`` is
    given), on SQLite a statement at a time in a transaction that writes alone. The
    refusals, in this order: no such fan, schedule, line, seat; the hold limit; the
    seat taken."""
    until = now + hold_for

    def checked(target: HoldTarget | None) -> HoldTarget:
        if (
            target is None
            or target.cancelled
            or not is_bookable(concert_at=target.concert_at, now=now)
        ):
            raise ScheduleNotFound(f"no bookable schedule {schedule_id}")
        require_sold_through(sells, target.concert_id)
        if target.seat_id is None or target.price is None or target.seat_number is None:
            which = f"id {seat_id}" if seat_id is not None else f"number {seat_number}"
            raise SeatNotFound(f"schedule {schedule_id} has no seat with {which}")
        return target

    def refused(*, limit_reached: bool) -> DomainError:
        if limit_reached:
            return HoldLimitReached(f"a fan may hold at most {max_holds} seats at once")
        return SeatUnavailable("someone else holds or bought this seat")

    def answered(found: repository.HeldAtOnce) -> Reservation:
        if found.reservation_id is not None:  # every guard held: what it wrote stands
            assert found.target is not None
            return found.target.held(found.reservation_id, user_id=user_id, until=until)
        # Nothing written; the checks name the refusal (the line's concerts, asked
        # again here, may have changed meanwhile: then it is the seat's).
        if found.fan_holds is None:
            raise UserNotFound("the token names a user that does not exist")
        checked(found.target)
        raise refused(limit_reached=found.fan_holds >= max_holds)

    async def step_by_step(conn: Conn) -> Reservation:
        target = await repository.hold_target(
            conn, user_id=user_id, schedule_id=schedule_id, seat_id=seat_id, seat_number=seat_number
        )
        if target is None:
            await users.lock_user(conn, user_id=user_id)  # raises for a user who is gone
        target = checked(target)
        assert target.seat_id is not None and target.price is not None  # checked
        reservation_id, claimed = await repository.hold(
            conn,
            user_id=user_id,
            seat_id=target.seat_id,
            price=target.price,
            until=until,
            now=now,
            max_holds=max_holds,
        )
        if reservation_id is None or not claimed:  # raising rolls the reservation back
            raise refused(limit_reached=reservation_id is None)
        return target.held(reservation_id, user_id=user_id, until=until)

    if db.is_sqlite:
        return await db.run(step_by_step)
    ask = repository.HoldAsk(user_id, schedule_id, seat_id, seat_number, until, now, max_holds)
    if together is None:
        found = await _hold_alone(db, ask, sells)
    else:
        found = await together.hold(ask, sells)
    return answered(found)


async def _hold_alone(db: Database, ask: repository.HoldAsk, sells: Sells) -> repository.HeldAtOnce:
    async def at_once(conn: Conn) -> repository.HeldAtOnce:
        return await repository.hold_at_once(
            conn,
            user_id=ask.user_id,
            schedule_id=ask.schedule_id,
            seat_id=ask.seat_id,
            seat_number=ask.seat_number,
            sells=sells,
            until=ask.until,
            now=ask.now,
            max_holds=ask.max_holds,
        )

    # A hold lost with its connection may have committed: not run again (the fan's
    # retry is told the seat is taken, and the hold is in their reservations).
    return await db.run_statement(at_once, retry_lost=False)


class HoldBatches:
    """Holds on PostgreSQL arriving in the same turn of the event loop: those of
    distinct fans on lines that sell the same concerts are one statement
    (``repository.hold_each``), each under every guard a hold alone has
    (``boxoffice.storage.batcher.Together``); a fan's second hold of the moment runs alone
    after it, so their hold limit counts the first. Never run again after a lost
    connection, as a hold alone is not."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._together: Together[_Asked, int, repository.HeldAtOnce] = Together(
            together=self._shared,
            alone=lambda asked: _hold_alone(db, asked.ask, asked.sells),
            who=lambda asked: asked.ask.user_id,
            group=lambda asked: asked.sells.key(),
        )

    async def hold(self, ask: repository.HoldAsk, sells: Sells) -> repository.HeldAtOnce:
        found = await self._together.submit(_Asked(ask, sells))
        assert found is not None, "the shared statement answers every fan in it"
        return found

    async def _shared(self, asked: list[_Asked]) -> dict[int, repository.HeldAtOnce]:
        sells = asked[0].sells

        async def apply(conn: Conn) -> dict[int, repository.HeldAtOnce]:
            return await repository.hold_each(conn, [a.ask for a in asked], sells=sells)

        return await self._db.run_statement(apply, retry_lost=False)

    async def close(self) -> None:
        """Wait for the holds already sent."""
        await self._together.close()


@dataclass(frozen=True, slots=True)
class _Asked:
    ask: repository.HoldAsk
    sells: Sells


async def get_own(*, db: Database, user_id: int, reservation_id: int, now: datetime) -> Reservation:
    async with db.statement() as conn:
        reservation = await repository.get(conn, reservation_id=reservation_id)
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
        reservation = await repository.get(conn, reservation_id=reservation_id)
        if reservation is None or reservation.user_id != user_id:
            raise ReservationNotFound(f"you have no reservation {reservation_id}")
        if reservation.status is ReservationStatus.CONFIRMED:
            raise AlreadyPaid("a paid reservation cannot be released")
        return None

    return await db.run(work)


async def confirm(
    conn: Conn,
    *,
    user_id: int,
    reservation_id: int,
    now: datetime,
    check_concert: ConcertCheck,
) -> Confirmed:
    """Turn the user's live hold into a sale, inside the caller's transaction: its
    seat, price, concert and the fan's other live holds."""
    confirmed = await sale_repository.confirm(
        conn, reservation_id=reservation_id, user_id=user_id, now=now
    )
    if confirmed is None:
        raise await why_not_payable(conn, user_id=user_id, reservation_id=reservation_id)
    check_concert(confirmed.concert_id)
    if not await sale_repository.sell_seat(
        conn, seat_id=confirmed.seat_id, reservation_id=reservation_id, now=now
    ):
        raise seat_lost(reservation_id)
    return confirmed


def seat_lost(reservation_id: int) -> HoldExpired:
    """A confirmed hold whose seat it no longer covers: the payment is refused."""
    return HoldExpired(f"the hold on reservation {reservation_id} no longer covers the seat")


async def why_not_payable(conn: Conn, *, user_id: int, reservation_id: int) -> Exception:
    """The error a payment gets for a reservation its confirmation did not take."""
    reservation = await repository.get(conn, reservation_id=reservation_id)
    if reservation is None or reservation.user_id != user_id:
        return ReservationNotFound(f"you have no reservation {reservation_id}")
    if reservation.status is ReservationStatus.CONFIRMED:
        return AlreadyPaid(f"reservation {reservation_id} is already paid")
    if reservation.status is ReservationStatus.REFUNDED:
        return AlreadyPaid(f"reservation {reservation_id} was paid and refunded")
    if reservation.show_cancelled:
        return HoldExpired(f"the show of reservation {reservation_id} was cancelled")
    return HoldExpired(f"the hold on reservation {reservation_id} has lapsed or was released")


async def live_holds(conn: Conn, *, user_id: int, now: datetime) -> int:
    """How many live holds the user has, inside the caller's transaction."""
    return await repository.count_live_holds(conn, user_id=user_id, now=now)


async def find(conn: Conn, *, reservation_id: int) -> Reservation | None:
    """A reservation by id, whoever owns it, inside the caller's transaction."""
    return await repository.get(conn, reservation_id=reservation_id)


async def refund(conn: Conn, *, reservation_id: int, now: datetime) -> Refunded:
    """Turn a sale back into an AVAILABLE seat, inside the caller's transaction. Of two
    refunds of one reservation, however they race, one finds it CONFIRMED."""
    refunded = await sale_repository.refund(conn, reservation_id=reservation_id, now=now)
    if refunded is not None:
        return refunded
    again = await repository.get(conn, reservation_id=reservation_id)
    raise not_refundable(reservation_id, None if again is None else again.status)


def not_refundable(reservation_id: int, status: ReservationStatus | None) -> DomainError:
    """Why a reservation that is not CONFIRMED cannot be refunded."""
    if status is ReservationStatus.REFUNDED:
        return AlreadyRefunded(f"reservation {reservation_id} is already refunded")
    return NotPaid(f"reservation {reservation_id} is not paid, so there is nothing to refund")


async def refund_schedule(conn: Conn, *, schedule_id: int, now: datetime) -> list[Refunded]:
    """Refund every paid seat of a schedule and release its holds, inside the caller's
    transaction; what this call refunded (nothing, the second time)."""
    return await sale_repository.refund_schedule(conn, schedule_id=schedule_id, now=now)


async def refunded_of_schedule(conn: Conn, *, schedule_id: int) -> tuple[int, int]:
    return await sale_repository.refunded_of_schedule(conn, schedule_id=schedule_id)
