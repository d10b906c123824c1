"""The hold as one statement on PostgreSQL, for the fans of one moment together.

Each fan's hold is made as it would be alone, under the guards of
``reservations.repository`` (``holdable``, ``claimable``): the fan locked and their
live holds counted after the lock (``boxoffice_fan_live_holds``, each of its queries
in a snapshot of its own), the schedule and seat read, and only when every guard
holds a reservation id drawn, the seat claimed for it and the reservation written (a
seat another hold took meanwhile is found taken when its row lock is granted, and
nothing is written). The fans are all distinct and on a line that sells the same
concerts for each; they are locked in the order of their ids, and the seats to claim
in the order of theirs, before any is written, so two such statements meet in the
same order. Two fans asking for one seat: the seat is claimed for one, and the
other's reservation is not written. A fan alone is the same statement with one row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Integer, bindparam, cast, func, insert, select, update
from sqlalchemy.dialects.postgresql import ARRAY, REGCLASS

from boxoffice.queue.model import Sells
from boxoffice.queue.repository import sells_params
from boxoffice.reservations.repository import (
    HOLD_COLUMNS,
    TARGET_COLUMNS,
    Held,
    asked_seat,
    claimable,
    hold_values,
    holdable,
    show_locked,
    target_of,
)
from boxoffice.storage.query import Conn, Query
from boxoffice.storage.row_locks import locked_in_order
from boxoffice.storage.tables import UTCDateTime, concerts, reservations, schedules, seats


@dataclass(frozen=True, slots=True)
class HoldAsk:
    """One fan's hold."""

    user_id: int
    schedule_id: int
    seat_id: int | None
    seat_number: int | None
    until: datetime
    now: datetime
    max_holds: int


def _asked() -> Any:
    each = (
        func.unnest(
            bindparam("users", type_=ARRAY(BigInteger())),
            bindparam("schedules", type_=ARRAY(BigInteger())),
            bindparam("seats", type_=ARRAY(BigInteger())),
            bindparam("seat_numbers", type_=ARRAY(Integer())),
            bindparam("untils", type_=ARRAY(UTCDateTime())),
            bindparam("nows", type_=ARRAY(UTCDateTime())),
            bindparam("limits", type_=ARRAY(Integer())),
        )
        .table_valued(
            "user_id", "schedule_id", "seat_id", "seat_number", "until", "now", "max_holds"
        )
        .render_derived(name="each")
    )
    return select(each).cte("asked")


def _read(asked: Any) -> tuple[Any, Any]:
    """Each fan locked in the order of their ids and their live holds counted after
    the lock; and each fan's schedule, concert and seat, the show's row locked
    ``show_locked``."""
    in_order = select(asked).order_by(asked.c.user_id).subquery("in_order")
    fan = select(
        in_order.c.user_id,
        func.boxoffice_fan_live_holds(in_order.c.user_id, in_order.c.now).label("holds"),
    ).cte("fan")
    target = show_locked(
        select(asked.c.user_id, *TARGET_COLUMNS)
        .select_from(asked)
        .join(schedules, schedules.c.id == asked.c.schedule_id)
        .join(concerts, concerts.c.id == schedules.c.concert_id)
        .outerjoin(seats, asked_seat(asked.c.schedule_id, asked.c.seat_id, asked.c.seat_number))
    ).cte("target")
    return fan, target


def _written(drawn: Any) -> Any:
    """The seats claimed for the holds drawn, locked in the order of their ids first,
    and the reservations of those claimed."""
    locked = locked_in_order(seats.c.id, seats.c.id.in_(select(drawn.c.seat_id)), name="locked")
    claimed = (
        update(seats)
        .where(seats.c.id == drawn.c.seat_id, seats.c.id == locked.c.id, *claimable(drawn.c.now))
        .values(hold_reservation_id=drawn.c.id, held_until=drawn.c.until)
        .returning(*drawn.c)
        .cte("claimed")
    )
    c = claimed.c
    return (
        insert(reservations)
        .from_select(
            ["id", *HOLD_COLUMNS],
            select(c.id, *hold_values(c.user_id, c.seat_id, c.price, c.until, c.now)),
        )
        .returning(reservations.c.id, reservations.c.user_id)
        .cte("added")
    )


def _hold_each() -> Query:
    """The statement: one row per fan, with the fan's id, their live holds before it
    (NULL: no such fan), the target's columns (NULL: no such schedule) and the
    reservation made, if any."""
    asked = _asked()
    fan, target = _read(asked)
    new_id = func.nextval(cast(func.pg_get_serial_sequence("reservations", "id"), REGCLASS))
    drawn = (
        select(
            new_id.label("id"),
            target.c.user_id,
            target.c.seat_id,
            target.c.price,
            asked.c.until,
            asked.c.now,
        )
        .select_from(
            target.join(fan, fan.c.user_id == target.c.user_id).join(
                asked, asked.c.user_id == target.c.user_id
            )
        )
        .where(*holdable(target, holds=fan.c.holds, max_holds=asked.c.max_holds, now=asked.c.now))
        .cte("drawn")
    )
    added = _written(drawn)
    return Query(
        select(
            asked.c.user_id,
            fan.c.holds,
            *(column for column in target.c if column.name != "user_id"),
            added.c.id.label("reservation_id"),
        ).select_from(
            asked.outerjoin(fan, fan.c.user_id == asked.c.user_id)
            .outerjoin(target, target.c.user_id == asked.c.user_id)
            .outerjoin(added, added.c.user_id == asked.c.user_id)
        ),
        postgres_only=True,
    )


HOLD_EACH = _hold_each()


async def hold_each(conn: Conn, asks: Sequence[HoldAsk], *, sells: Sells) -> dict[int, Held]:
    """Each fan's hold, in one statement (PostgreSQL): what it found and did, by fan.
    The fans must be distinct, on a line that sells ``sells`` for all."""
    rows = await conn.fetch(
        HOLD_EACH,
        users=[a.user_id for a in asks],
        schedules=[a.schedule_id for a in asks],
        seats=[a.seat_id for a in asks],
        seat_numbers=[a.seat_number for a in asks],
        untils=[a.until for a in asks],
        nows=[a.now for a in asks],
        limits=[a.max_holds for a in asks],
        **sells_params(sells),
    )
    schedule_of = {a.user_id: a.schedule_id for a in asks}
    return {
        row["user_id"]: Held(
            row["holds"], target_of(row, schedule_of[row["user_id"]]), row["reservation_id"]
        )
        for row in rows
    }
