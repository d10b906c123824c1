"""Pure rules of the waiting room: who may be let in, where one stands, how long.

Nothing here reads the clock or does I/O; times are epoch seconds passed in. The Redis
store runs the same rules inside its Lua scripts (``queue/lua/``); the store contract
suite holds the two to each other.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Collection
from dataclasses import dataclass, replace
from enum import StrEnum

RATE_WINDOW_SECONDS = 60.0
MIN_POLL_SECONDS = 1
MAX_POLL_SECONDS = 15
FRONT_OF_LINE = 20
POSITIONS_PER_EXTRA_SECOND = 50
# How often a waiter polls at most while fewer seats are left than fans ahead of it.
SCARCE_POLL_SECONDS = 5
DEFAULT_LINE = "default"
# Pre-queue places are draw ranks in [0, 1); places of fans who join once a line is
# open are arrival numbers from 1, so everyone arriving after the opening is behind
# the whole pre-queue.
DRAW_RANK_DIGITS = 13
DRAW_RANK_SCALE = 16**DRAW_RANK_DIGITS


class QueueState(StrEnum):
    PRE_QUEUE = "PRE_QUEUE"
    WAITING = "WAITING"
    ADMITTED = "ADMITTED"
    SOLD_OUT = "SOLD_OUT"


_CONCERT_LINE = "concert-"


def concert_line(concert_id: int) -> str:
    """The id of a concert's own line."""
    return f"{_CONCERT_LINE}{concert_id}"


@dataclass(frozen=True, slots=True)
class Sells:
    """The concerts a line sells: a concert's own line that concert alone, the default
    line every concert without a line of its own (``not_these``: those this instance
    knows of, as it knows them now: read, not copied, since every gate asks). Asked in
    Python (``in``) and, by a sale that is one statement, in SQL."""

    concert_id: int | None
    not_these: Collection[int] = ()

    @classmethod
    def of(cls, line: str, *, concerts_with_lines: Collection[int]) -> Sells:
        if line == DEFAULT_LINE:
            return cls(None, concerts_with_lines)
        if line.startswith(_CONCERT_LINE) and line[len(_CONCERT_LINE) :].isdigit():
            return cls(int(line[len(_CONCERT_LINE) :]))
        raise ValueError(f"no such line: {line!r}")

    def __contains__(self, concert_id: object) -> bool:
        if self.concert_id is not None:
            return concert_id == self.concert_id
        return concert_id not in self.not_these

    def key(self) -> tuple[int | None, frozenset[int]]:
        """Equal for two that sell the same concerts: what a statement shared by the
        requests of one moment is bound to besides their rows."""
        return self.concert_id, frozenset(self.not_these)


@dataclass(frozen=True, slots=True)
class LineRules:
    """How one line admits. ``opens_at`` (epoch seconds, or None: open) is when its
    sale opens; ``seed`` fixes the pre-queue's order; ``sold_out_at`` closes it."""

    capacity: int
    per_minute: int
    paused: bool
    waiter_timeout: float
    admitted_idle: float
    opens_at: float | None = None
    seed: str = ""
    sold_out_at: float | None = None
    seats_left: int | None = None
    # The line's defences: most live places one address holds (None: no cap), and
    # the proof of work a join must carry (a ``ChallengeLevel``'s value).
    places_per_address: int | None = None
    challenge: str = "off"

    def changed(
        self, *, capacity: int | None, per_minute: int | None, paused: bool | None
    ) -> LineRules:
        return replace(
            self,
            capacity=self.capacity if capacity is None else capacity,
            per_minute=self.per_minute if per_minute is None else per_minute,
            paused=self.paused if paused is None else paused,
        )


@dataclass(frozen=True, slots=True)
class Ticket:
    """One user's place in a line as the store sees it at one instant; ``position`` is
    None while the line is not open yet (or sold out)."""

    user_id: int
    jti: str
    seq: int
    issued_at: int
    token_expires_at: int
    state: QueueState
    position: int | None
    lapses_at: float


@dataclass(frozen=True, slots=True)
class LineStats:
    waiting: int
    admitted: int
    admitted_last_minute: int
    observed_seconds: float


def is_open(rules: LineRules, now: float) -> bool:
    return rules.opens_at is None or now >= rules.opens_at


# Most admitted by one step of the line: a step runs inside Redis, holding every other
# client, so its work is bounded; the rest are admitted by the steps that follow.
ADMIT_MOST = 500


def admissible(
    *, waiting: int, admitted: int, admitted_last_minute: int, rules: LineRules, now: float
) -> int:
    """How many from the head of the line may be admitted now, in one step."""
    if rules.paused or rules.sold_out_at is not None or not is_open(rules, now):
        return 0
    room = rules.capacity - admitted
    budget = rules.per_minute - admitted_last_minute
    return max(0, min(waiting, room, budget, ADMIT_MOST))


def ticket_state(*, admitted: bool, rules: LineRules, now: float) -> QueueState:
    if rules.sold_out_at is not None:
        return QueueState.SOLD_OUT
    if admitted:
        return QueueState.ADMITTED
    if not is_open(rules, now):
        return QueueState.PRE_QUEUE
    return QueueState.WAITING


def shown_position(state: QueueState, rank: int) -> int | None:
    """What a fan is told: live waiters ahead plus one while waiting, 0 once
    admitted, nothing while the order is not drawn yet or the line is sold out."""
    if state is QueueState.WAITING:
        return rank + 1
    if state is QueueState.ADMITTED:
        return 0
    return None


def waiting_order(entry: tuple[float, int]) -> tuple[float, str]:
    """A waiting (place, user id) pair's order in a line: by place, equal places by the
    user id's text. It is a Redis sorted set's order, so the in-process store and the
    status mirror rank a tie of two draw ranks as Redis does."""
    return entry[0], str(entry[1])


@dataclass(slots=True)
class LineEntry:
    """A fan's entry in a line, as a store (or the status mirror) keeps it."""

    jti: str
    seq: int
    issued_at: int
    token_expires_at: int
    place: float
    admitted: bool

    def ticket_at(
        self, user_id: int, *, rank: int, rules: LineRules, now: float, last_seen: float
    ) -> Ticket:
        """The ticket at ``now``, ``rank`` fans ahead, last seen at ``last_seen``."""
        state = ticket_state(admitted=self.admitted, rules=rules, now=now)
        return Ticket(
            user_id=user_id,
            jti=self.jti,
            seq=self.seq,
            issued_at=self.issued_at,
            token_expires_at=self.token_expires_at,
            state=state,
            position=shown_position(state, rank),
            lapses_at=lapses_at(admitted=self.admitted, last_seen=last_seen, rules=rules),
        )


def draw_rank(seed: str, user_id: int) -> float:
    """A pre-queue fan's place in [0, 1): the first 52 bits of SHA-1(seed:user). With
    a seed nobody knows before the opening, ordering by it is a uniformly random
    permutation that anyone can check afterwards from the seed and the entrants."""
    digest = hashlib.sha1(f"{seed}:{user_id}".encode()).hexdigest()
    rank: float = int(digest[:DRAW_RANK_DIGITS], 16) / DRAW_RANK_SCALE
    return rank


def join_place(*, rules: LineRules, seq: int, user_id: int, now: float) -> float:
    return float(seq) if is_open(rules, now) else draw_rank(rules.seed, user_id)


def seen_at(*, rules: LineRules, now: float) -> float:
    """A waiter's liveness clock. Fans in a pre-queue are not dropped for silence
    before the opening: their timeout starts when the line opens."""
    return now if is_open(rules, now) else max(now, rules.opens_at or now)


def is_stale(*, last_seen: float, now: float, timeout: float) -> bool:
    """A waiter silent for ``timeout`` seconds (or an admitted user idle as long) is gone."""
    return now - last_seen >= timeout


def sold_out_lapsed(rules: LineRules, now: float) -> bool:
    """A sold-out line keeps its fans one waiter timeout, so that each poller learns
    it once, and then lets every token lapse."""
    return rules.sold_out_at is not None and now >= rules.sold_out_at + rules.waiter_timeout


def lapses_at(*, admitted: bool, last_seen: float, rules: LineRules) -> float:
    """When a ticket lapses unless its fan is seen again; on a sold-out line, at the
    latest one waiter timeout after the sell-out (``sold_out_lapsed``)."""
    timeout = rules.admitted_idle if admitted else rules.waiter_timeout
    if rules.sold_out_at is not None:
        return min(last_seen + timeout, rules.sold_out_at + rules.waiter_timeout)
    return last_seen + timeout


def measured_rate(stats: LineStats) -> float | None:
    """Admissions per second over the last minute (or as long as we have watched)."""
    if stats.admitted_last_minute <= 0:
        return None
    span = min(RATE_WINDOW_SECONDS, max(stats.observed_seconds, 1.0))
    return stats.admitted_last_minute / span


def estimate_wait(*, position: int | None, stats: LineStats, rules: LineRules) -> int | None:
    """Seconds until admission at the measured pace; None while it cannot be known."""
    if position is None:
        return None
    if position <= 0:
        return 0
    if rules.paused or rules.per_minute <= 0 or rules.capacity <= 0:
        return None
    rate = measured_rate(stats)
    if rate is None:
        return None
    rate = min(rate, rules.per_minute / RATE_WINDOW_SECONDS)
    return math.ceil(position / rate)


def poll_after(*, position: int | None, rules: LineRules, admitted: int | None = None) -> int:
    """About a second near the front, growing to ~15 s far back, never so slow that a
    well-behaved client is dropped for silence. A waiter the line has room for now is
    told to come back at once (it is admitted on the next step, and must hear so
    before those behind it do); one behind fewer seats than fans ahead comes back
    often enough to learn soon if the concert sells out."""
    ceiling = max(MIN_POLL_SECONDS, min(MAX_POLL_SECONDS, int(rules.waiter_timeout // 3)))
    if position is None or position <= 0:
        return ceiling
    room = 0 if rules.paused or admitted is None else rules.capacity - admitted
    if position <= max(FRONT_OF_LINE, room):
        return MIN_POLL_SECONDS
    seconds = MIN_POLL_SECONDS + math.ceil((position - FRONT_OF_LINE) / POSITIONS_PER_EXTRA_SECOND)
    if rules.seats_left is not None and rules.seats_left < position:
        ceiling = min(ceiling, SCARCE_POLL_SECONDS)
    return min(seconds, ceiling)
