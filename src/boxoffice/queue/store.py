"""Where the lines live: the Protocol both stores keep, and what its steps answer.

Every method is one atomic step of one line. The in-process store gets that for free
from running on one event loop with no ``await`` inside a step; the Redis store gets it
from running each step as one Lua script. The line's clock is the store's own: the
process clock in-process, Redis ``TIME`` on Redis, so an app host's clock never moves
a shared line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from boxoffice.queue.model import LineRules, LineStats, QueueState, Ticket


class LineMissing(Exception):
    """The store holds no rules for this line: it was never set up here, or the store
    lost its data. Nothing was written; seed the line and try again."""

    def __init__(self, line: str) -> None:
        super().__init__(f"the waiting room has no line {line!r}")
        self.line = line


class LineAlreadyOpen(Exception):
    """An opening time in the future was asked of a line that is open with fans in it."""


@dataclass(frozen=True, slots=True)
class Seen:
    """A ticket and its line's counts, as of ``now`` on the line's clock."""

    ticket: Ticket
    stats: LineStats
    now: float
    created: bool = False


class Refused(StrEnum):
    """Why a join made no ticket."""

    SOLD_OUT = "sold_out"  # the line takes nobody new
    AT_CAP = "at_cap"  # the join's address holds the line's most places already


# A join from no known address (not counted against any cap).
NO_ADDRESS = ""


@dataclass(frozen=True, slots=True)
class GatePass:
    state: QueueState
    position: int | None
    at: float  # when the gate let the ticket through, on the line's clock


@dataclass(frozen=True, slots=True)
class Drawn:
    """The pre-queue's order as the line recorded it at its opening."""

    drawn_at: float
    order: list[int]


class QueueStore(Protocol):
    async def join(
        self,
        *,
        line: str,
        user_id: int,
        jti: str,
        token_expires_at: int,
        address: str = NO_ADDRESS,
    ) -> Seen | Refused:
        """The user's live ticket, or a new one at the back (``created``), counted
        against ``address``; refused when the line is sold out, or when ``address``
        holds the line's ``places_per_address`` live places already."""
        ...

    async def evict(
        self, *, line: str, user_ids: Sequence[int] = (), address: str | None = None
    ) -> list[int]:
        """The operator takes fans out of the line: these users, or every fan counted
        against ``address``. Answers the users whose tickets were live and are gone."""
        ...

    async def top_addresses(self, line: str, *, count: int) -> list[tuple[str, int]]:
        """The addresses holding the most live places, most first."""
        ...

    async def touch(self, *, line: str, user_id: int, jti: str) -> Seen | None:
        """Mark the ticket as seen and answer where it stands; None if not live."""
        ...

    async def peek(self, *, line: str, user_id: int, jti: str) -> Seen | None:
        """Like ``touch`` for a status poll, which may be answered from a local view a
        few milliseconds behind and have its liveness write batched."""
        ...

    async def gate(self, *, line: str, user_id: int, jti: str) -> GatePass | None:
        """For the booking endpoints: the ticket's state if it is live, marking the fan
        active; None if it is not."""
        ...

    async def leave(self, *, line: str, user_id: int, jti: str) -> bool: ...

    async def spend(self, *, line: str, user_id: int, jti: str, gated_at: float) -> None:
        """End a visit (the fan paid); frees their place at once. ``gated_at`` is when
        the payment's gate let the visit through: a store that could not end it at
        once and retries later leaves a visit seen since then (one the fan came back
        to: joined again and was answered with the same ticket) to lapse when idle."""
        ...

    async def advance(self, *, line: str) -> LineStats:
        """Drop the silent, lapse the idle, admit from the head; return the counts."""
        ...

    async def rules(self, line: str) -> LineRules: ...

    async def seed(self, line: str, rules: LineRules) -> bool:
        """Start ``line`` afresh with ``rules`` unless it exists; True if it did not."""
        ...

    async def configure(self, line: str, rules: LineRules) -> None:
        """Replace an existing line's rules (raises ``LineAlreadyOpen`` for an opening
        in the future on a line that is open with fans in it)."""
        ...

    async def set_supply(self, line: str, *, seats_left: int | None, sold_out: bool) -> None:
        """What is left to sell. A sold-out line admits and takes nobody, and lets its
        tokens lapse one waiter timeout after it first sold out."""
        ...

    async def drawn(self, line: str) -> Drawn | None:
        """The recorded opening draw, until ``forget_draw`` is called."""
        ...

    async def forget_draw(self, line: str) -> None: ...

    async def ping(self) -> None:
        """Raise if the store cannot be reached."""
        ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...
