"""The support view's use cases: one fan's record, for the desk or for the fan."""

from __future__ import annotations

from datetime import datetime

from boxoffice.errors import NotFound
from boxoffice.reservations.model import Reservation
from boxoffice.storage.db import Database
from boxoffice.support import repository
from boxoffice.support.model import FanRecord
from boxoffice.users.service import normal_email


async def find_fan(
    *, db: Database, now: datetime, user_id: int | None = None, email: str | None = None
) -> FanRecord:
    """By user id or by email (as it is kept: trimmed, lower-cased), in one snapshot."""
    wanted = None if email is None else normal_email(email)
    async with db.read() as conn:
        fan = await repository.find_fan(conn, user_id=user_id, email=wanted)
        if fan is None:
            raise NotFound("no fan with that email or user id")
        return await repository.record_of(conn, fan, now=now)


async def my_reservations(*, db: Database, user_id: int, now: datetime) -> list[Reservation]:
    """A fan's own reservations, newest first: what "my tickets" shows on any device."""
    async with db.read() as conn:
        return await repository.reservations_of(conn, user_id=user_id, now=now)
