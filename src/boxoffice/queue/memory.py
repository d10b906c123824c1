"""The waiting room of the embedded shape: one process, nothing shared."""

from __future__ import annotations

import heapq
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from sortedcontainers import SortedKeyList

from boxoffice.queue.model import (
    RATE_WINDOW_SECONDS,
    LineEntry,
    LineRules,
    LineStats,
    Ticket,
    admissible,
    is_open,
    is_stale,
    join_place,
    seen_at,
    sold_out_lapsed,
    waiting_order,
)
from boxoffice.queue.store import (
    NO_ADDRESS,
    Drawn,
    GatePass,
    LineAlreadyOpen,
    LineMissing,
    Refused,
    Seen,
)


@dataclass(slots=True)
class _Entry(LineEntry):
    user_id: int
    last_seen: float
    address: str


@dataclass(slots=True)
class _Line:
    rules: LineRules
    seq: int = 0
    entries: dict[int, _Entry] = field(default_factory=dict)
    waiting: SortedKeyList = field(default_factory=lambda: SortedKeyList(key=waiting_order))
    # Insertion order is last-seen order (a touch moves the user to the end), so the
    # silent are always at the front and dropping them never scans the line.
    waiters_seen: OrderedDict[int, None] = field(default_factory=OrderedDict)
    admitted_seen: OrderedDict[int, None] = field(default_factory=OrderedDict)
    admissions: deque[float] = field(default_factory=deque)
    first_admission: float | None = None
    drawn: Drawn | None = None
    draw_done: bool = False
    # The live places of each address (a ticket with no address is not counted).
    by_address: dict[str, set[int]] = field(default_factory=dict)


class MemoryQueueStore:
    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._lines: dict[str, _Line] = {}

    def _line(self, line: str) -> _Line:
        found = self._lines.get(line)
        if found is None:
            raise LineMissing(line)
        return found

    async def join(
        self,
        *,
        line: str,
        user_id: int,
        jti: str,
        token_expires_at: int,
        address: str = NO_ADDRESS,
    ) -> Seen | Refused:
        state, now = self._line(line), self._clock()
        self._advance(state, now)
        entry = self._live(state, user_id, now)
        created = entry is None
        if entry is None:
            if state.rules.sold_out_at is not None:
                return Refused.SOLD_OUT
            cap = state.rules.places_per_address
            if cap is not None and address and len(state.by_address.get(address, ())) >= cap:
                return Refused.AT_CAP
            entry = self._add(state, user_id, jti, token_expires_at, now, address)
            self._advance(state, now)
        else:
            self._see(state, entry, now)
        return Seen(self._ticket(state, entry, now), self._stats(state, now), now, created)

    def _add(
        self, state: _Line, user_id: int, jti: str, expires: int, now: float, address: str
    ) -> _Entry:
        state.seq += 1
        entry = _Entry(
            user_id=user_id,
            jti=jti,
            seq=state.seq,
            issued_at=int(now),
            token_expires_at=expires,
            place=join_place(rules=state.rules, seq=state.seq, user_id=user_id, now=now),
            admitted=False,
            last_seen=seen_at(rules=state.rules, now=now),
            address=address,
        )
        state.entries[user_id] = entry
        if address:
            state.by_address.setdefault(address, set()).add(user_id)
        state.waiting.add((entry.place, user_id))
        state.waiters_seen[user_id] = None
        return entry

    async def touch(self, *, line: str, user_id: int, jti: str) -> Seen | None:
        state, now = self._line(line), self._clock()
        self._advance(state, now)
        entry = self._live(state, user_id, now)
        if entry is None or entry.jti != jti:
            return None
        self._see(state, entry, now)
        return Seen(self._ticket(state, entry, now), self._stats(state, now), now)

    async def peek(self, *, line: str, user_id: int, jti: str) -> Seen | None:
        return await self.touch(line=line, user_id=user_id, jti=jti)

    async def gate(self, *, line: str, user_id: int, jti: str) -> GatePass | None:
        seen = await self.touch(line=line, user_id=user_id, jti=jti)
        if seen is None:
            return None
        return GatePass(seen.ticket.state, seen.ticket.position, seen.now)

    async def leave(self, *, line: str, user_id: int, jti: str) -> bool:
        state, now = self._line(line), self._clock()
        entry = self._live(state, user_id, now)
        if entry is None or entry.jti != jti:
            return False
        self._remove(state, entry)
        self._advance(state, now)
        return True

    async def spend(self, *, line: str, user_id: int, jti: str, gated_at: float) -> None:
        # In process, a spend never fails, so it is never retried late.
        await self.leave(line=line, user_id=user_id, jti=jti)

    async def evict(
        self, *, line: str, user_ids: Sequence[int] = (), address: str | None = None
    ) -> list[int]:
        state = self._line(line)
        if address is not None:
            user_ids = sorted(state.by_address.get(address, ()))
        removed = []
        for user_id in user_ids:
            entry = state.entries.get(user_id)
            if entry is not None:
                self._remove(state, entry)
                removed.append(user_id)
        if removed:
            self._advance(state, self._clock())
        return removed

    async def top_addresses(self, line: str, *, count: int) -> list[tuple[str, int]]:
        held = ((address, len(users)) for address, users in self._line(line).by_address.items())
        return heapq.nlargest(count, held, key=lambda item: item[1])

    async def advance(self, *, line: str) -> LineStats:
        state, now = self._line(line), self._clock()
        self._advance(state, now)
        return self._stats(state, now)

    async def rules(self, line: str) -> LineRules:
        return self._line(line).rules

    async def seed(self, line: str, rules: LineRules) -> bool:
        if line in self._lines:
            return False
        self._lines[line] = _Line(rules)
        return True

    async def configure(self, line: str, rules: LineRules) -> None:
        state, now = self._line(line), self._clock()
        moved = rules.opens_at != state.rules.opens_at
        if moved and not is_open(rules, now):
            if is_open(state.rules, now) and state.entries:
                raise LineAlreadyOpen(line)
            state.draw_done, state.drawn = False, None
        state.rules = replace(
            rules, sold_out_at=state.rules.sold_out_at, seats_left=state.rules.seats_left
        )

    async def set_supply(self, line: str, *, seats_left: int | None, sold_out: bool) -> None:
        state = self._line(line)
        sold_out_at = (state.rules.sold_out_at or self._clock()) if sold_out else None
        state.rules = replace(state.rules, seats_left=seats_left, sold_out_at=sold_out_at)

    async def drawn(self, line: str) -> Drawn | None:
        return self._line(line).drawn

    async def forget_draw(self, line: str) -> None:
        self._line(line).drawn = None

    async def ping(self) -> None:
        return None

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    def _live(self, state: _Line, user_id: int, now: float) -> _Entry | None:
        entry = state.entries.get(user_id)
        if entry is None:
            return None
        timeout = state.rules.admitted_idle if entry.admitted else state.rules.waiter_timeout
        if entry.token_expires_at <= now or is_stale(
            last_seen=entry.last_seen, now=now, timeout=timeout
        ):
            self._remove(state, entry)
            return None
        return entry

    def _see(self, state: _Line, entry: _Entry, now: float) -> None:
        if entry.admitted:
            entry.last_seen = max(entry.last_seen, now)
            state.admitted_seen.move_to_end(entry.user_id)
        else:
            entry.last_seen = max(entry.last_seen, seen_at(rules=state.rules, now=now))
            state.waiters_seen.move_to_end(entry.user_id)

    def _remove(self, state: _Line, entry: _Entry) -> None:
        del state.entries[entry.user_id]
        if entry.address:
            users = state.by_address[entry.address]
            users.discard(entry.user_id)
            if not users:
                del state.by_address[entry.address]
        if entry.admitted:
            del state.admitted_seen[entry.user_id]
        else:
            del state.waiters_seen[entry.user_id]
            state.waiting.remove((entry.place, entry.user_id))

    def _drop_stale(
        self, state: _Line, seen: OrderedDict[int, None], now: float, timeout: float
    ) -> None:
        while seen:
            entry = state.entries[next(iter(seen))]
            if not is_stale(last_seen=entry.last_seen, now=now, timeout=timeout):
                return
            self._remove(state, entry)

    def _advance(self, state: _Line, now: float) -> None:
        rules = state.rules
        self._drop_stale(state, state.waiters_seen, now, rules.waiter_timeout)
        self._drop_stale(state, state.admitted_seen, now, rules.admitted_idle)
        if sold_out_lapsed(rules, now):
            for entry in list(state.entries.values()):
                self._remove(state, entry)
        while state.admissions and state.admissions[0] <= now - RATE_WINDOW_SECONDS:
            state.admissions.popleft()
        if is_open(rules, now) and not state.draw_done:
            self._record_draw(state, now)
        count = admissible(
            waiting=len(state.waiting),
            admitted=len(state.admitted_seen),
            admitted_last_minute=len(state.admissions),
            rules=rules,
            now=now,
        )
        for _ in range(count):
            _, user_id = state.waiting.pop(0)
            entry = state.entries[user_id]
            del state.waiters_seen[user_id]
            entry.admitted, entry.last_seen = True, now
            state.admitted_seen[user_id] = None
            state.admissions.append(now)
            if state.first_admission is None:
                state.first_admission = now

    def _record_draw(self, state: _Line, now: float) -> None:
        """The first step after the opening records the pre-queue's order."""
        state.draw_done = True
        if state.rules.opens_at is not None:
            order = [user for place, user in state.waiting if place < 1]
            state.drawn = Drawn(drawn_at=now, order=order)

    def _ticket(self, state: _Line, entry: _Entry, now: float) -> Ticket:
        rank = 0 if entry.admitted else state.waiting.bisect_left((entry.place, entry.user_id))
        return entry.ticket_at(
            entry.user_id, rank=rank, rules=state.rules, now=now, last_seen=entry.last_seen
        )

    def _stats(self, state: _Line, now: float) -> LineStats:
        first = state.first_admission
        return LineStats(
            waiting=len(state.waiting),
            admitted=len(state.admitted_seen),
            admitted_last_minute=len(state.admissions),
            observed_seconds=0.0 if first is None else now - first,
        )
