"""When a hold is live: until ``held_until`` and not a moment after. The one rule, in
Python and in SQL, for every domain that asks (the catalog's seat states, the holds
themselves, the sales view). A lapsed hold needs no job: it is simply no longer live."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BindParameter, ColumnElement, or_

# ``now`` in SQL: the request's instant, a bind parameter that will carry it, or a
# column carrying each request's own (a statement that serves several).
SqlNow = datetime | BindParameter[datetime] | ColumnElement[datetime]


def is_live_hold(*, held_until: datetime | None, now: datetime) -> bool:
    return held_until is not None and held_until > now


def live_hold(held_until: ColumnElement[datetime], now: SqlNow) -> ColumnElement[bool]:
    """The SQL twin of ``is_live_hold``."""
    return held_until > now


def no_live_hold(held_until: ColumnElement[datetime], now: SqlNow) -> ColumnElement[bool]:
    """The SQL twin of ``not is_live_hold`` (a NULL ``held_until`` is no hold at all)."""
    return or_(held_until.is_(None), held_until <= now)
