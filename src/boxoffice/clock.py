"""Time as boxoffice reads it: aware UTC datetimes from one clock per app.

Every instant that guards a seat or money (a hold's life and ``heldUntil``, a payment's
check, the refund cutoff, a line's opening and its seed's reveal, a sold-out lapse, an
idempotency key's expiry, a token's) is read from the clock of the storage every
instance shares, never from a host's wall clock: two instances whose hosts disagree by
90 s would otherwise disagree on whether a hold is alive, and one would sell a seat the
other promised. ``StorageClock`` is that clock as this instance last heard it, carried
forward by the host's monotonic clock, which NTP steps and a skewed wall clock do not
move. The embedded shape is one process on one host: its clock is the host's.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import formatdate

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


def from_epoch(seconds: float | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, tz=UTC)


class StorageClock:
    """A storage's clock (PostgreSQL's ``clock_timestamp()``, Redis ``TIME``) as last
    heard, read between hearings from the host's monotonic clock. Until it is first
    heard it reads the host's wall clock."""

    __slots__ = ("_offset", "heard_once")

    def __init__(self) -> None:
        self._offset = time.time() - time.monotonic()
        self.heard_once = False

    def heard(self, storage_seconds: float, *, asked_at: float | None = None) -> None:
        """The storage said it was ``storage_seconds`` (epoch) somewhere between
        ``asked_at`` (a ``time.monotonic()`` reading) and now: take the midpoint, so the
        error is at most half the round trip."""
        answered_at = time.monotonic()
        said_at = answered_at if asked_at is None else (asked_at + answered_at) / 2
        self._offset = storage_seconds - said_at
        self.heard_once = True

    def seconds(self) -> float:
        return time.monotonic() + self._offset

    def __call__(self) -> datetime:
        return datetime.fromtimestamp(self.seconds(), tz=UTC)

    def host_ahead(self) -> float:
        """How far the host's wall clock runs ahead of the storage's (negative: behind)."""
        return time.time() - self.seconds()


class ServedDate:
    """The ``Date`` header of this process's answers, read from the app's clock rather
    than the host's: the fan page reads the server's clock off it to count a hold
    down to ``heldUntil``, which is the storage's time. Made once per second."""

    __slots__ = ("_clock", "_header", "_second")

    def __init__(self) -> None:
        self._clock: Callable[[], float] = time.time
        self._second = -1
        self._header = b""

    def follow(self, clock: StorageClock) -> None:
        """Take the date from ``clock`` from now on (the app serving in this process
        calls it once it has a storage clock)."""
        self._clock = clock.seconds

    def header(self) -> bytes:
        second = int(self._clock())
        if second != self._second:
            self._second, self._header = second, formatdate(second, usegmt=True).encode()
        return self._header


# One per process, as uvicorn's own Date header is.
SERVED_DATE = ServedDate()
