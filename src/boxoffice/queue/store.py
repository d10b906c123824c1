"""Where the line lives: a Protocol and its in-process implementation.

Every method is one atomic step of the line. The in-process store gets that for free
from running on one event loop with no ``await`` inside a step; a shared store must
get it from its backend (one Lua script per step on Redis).
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Protocol

from sortedcontainers import SortedList

from boxoffice.queue.model import (
    RATE_WINDOW_SECONDS,
    AdmissionRules,
    LineStats,
    QueueState,
    Ticket,
    admissible,
    is_stale,
    lapses_at,
)


class QueueStore(Protocol):
    async def join(
        self, *, user_id: int, jti: str, now: float, token_expires_at: int
    ) -> tuple[Ticket, LineStats, bool]:
        """The user's live ticket, or a new one at the back; True when new."""
        ...

    async def touch(self, *, user_id: int, jti: str, now: float) -> tuple[Ticket, LineStats] | None:
        """Mark the ticket as seen and answer where it stands; None if not live."""
        ...

    async def peek(self, *, user_id: int, jti: str, now: float) -> tuple[Ticket, LineStats] | None:
        """Like ``touch`` for a status poll, which may be answered from a local view a
        few milliseconds behind and have its liveness write batched."""
        ...

    async def gate(self, *, user_id: int, jti: str, now: float) -> tuple[QueueState, int] | None:
        """For the booking endpoints: the ticket's state and position if it is live,
        marking the fan active; None if it is not."""
        ...

    async def leave(self, *, user_id: int, jti: str, now: float) -> bool: ...

    async def spend(self, *, user_id: int, jti: str, now: float) -> None:
        """End a visit (the fan paid); frees their place at once."""
        ...

    async def advance(self, *, now: float) -> LineStats:
        """Drop the silent, lapse the idle, admit from the head; return the counts."""
        ...

    async def rules(self) -> AdmissionRules: ...

    async def set_rules(self, rules: AdmissionRules) -> None: ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...


@dataclass(slots=True)
class _Entry:
    user_id: int
    jti: str
    seq: int
    issued_at: int
    token_expires_at: int
    state: QueueState
    last_seen: float


class MemoryQueueStore:
    """The waiting room of the embedded shape: one process, nothing shared."""

    def __init__(self, rules: AdmissionRules) -> None:
        self._rules = rules
        self._seq = 0
        self._entries: dict[int, _Entry] = {}
        self._waiting_seqs = SortedList()
        self._user_by_seq: dict[int, int] = {}
        # Insertion order is last-seen order (a touch moves the user to the end), so
        # the silent are always at the front and dropping them never scans the line.
        self._waiters_seen: OrderedDict[int, None] = OrderedDict()
        self._admitted_seen: OrderedDict[int, None] = OrderedDict()
        self._admissions: deque[float] = deque()
        self._first_admission: float | None = None

    async def join(
        self, *, user_id: int, jti: str, now: float, token_expires_at: int
    ) -> tuple[Ticket, LineStats, bool]:
        self._advance(now)
        entry = self._live_entry(user_id, now)
        created = entry is None
        if entry is None:
            self._seq += 1
            entry = _Entry(
                user_id=user_id,
                jti=jti,
                seq=self._seq,
                issued_at=int(now),
                token_expires_at=token_expires_at,
                state=QueueState.WAITING,
                last_seen=now,
            )
            self._entries[user_id] = entry
            self._waiting_seqs.add(entry.seq)
            self._user_by_seq[entry.seq] = user_id
            self._waiters_seen[user_id] = None
            self._advance(now)
        else:
            self._see(entry, now)
        return self._ticket(entry), self._stats(now), created

    async def touch(self, *, user_id: int, jti: str, now: float) -> tuple[Ticket, LineStats] | None:
        self._advance(now)
        entry = self._live_entry(user_id, now)
        if entry is None or entry.jti != jti:
            return None
        self._see(entry, now)
        return self._ticket(entry), self._stats(now)

    async def peek(self, *, user_id: int, jti: str, now: float) -> tuple[Ticket, LineStats] | None:
        return await self.touch(user_id=user_id, jti=jti, now=now)

    async def gate(self, *, user_id: int, jti: str, now: float) -> tuple[QueueState, int] | None:
        seen = await self.touch(user_id=user_id, jti=jti, now=now)
        return None if seen is None else (seen[0].state, seen[0].position)

    async def leave(self, *, user_id: int, jti: str, now: float) -> bool:
        entry = self._live_entry(user_id, now)
        if entry is None or entry.jti != jti:
            return False
        self._remove(entry)
        self._advance(now)
        return True

    async def spend(self, *, user_id: int, jti: str, now: float) -> None:
        await self.leave(user_id=user_id, jti=jti, now=now)

    async def advance(self, *, now: float) -> LineStats:
        self._advance(now)
        return self._stats(now)

    async def rules(self) -> AdmissionRules:
        return self._rules

    async def set_rules(self, rules: AdmissionRules) -> None:
        self._rules = rules

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    def _live_entry(self, user_id: int, now: float) -> _Entry | None:
        entry = self._entries.get(user_id)
        if entry is not None and entry.token_expires_at <= now:
            self._remove(entry)
            return None
        return entry

    def _see(self, entry: _Entry, now: float) -> None:
        entry.last_seen = now
        seen = self._admitted_seen if entry.state is QueueState.ADMITTED else self._waiters_seen
        seen.move_to_end(entry.user_id)

    def _remove(self, entry: _Entry) -> None:
        del self._entries[entry.user_id]
        if entry.state is QueueState.ADMITTED:
            del self._admitted_seen[entry.user_id]
        else:
            del self._waiters_seen[entry.user_id]
            self._waiting_seqs.remove(entry.seq)
            del self._user_by_seq[entry.seq]

    def _drop_stale(self, seen: OrderedDict[int, None], now: float, timeout: float) -> None:
        while seen:
            user_id = next(iter(seen))
            if not is_stale(last_seen=self._entries[user_id].last_seen, now=now, timeout=timeout):
                return
            self._remove(self._entries[user_id])

    def _advance(self, now: float) -> None:
        self._drop_stale(self._waiters_seen, now, self._rules.waiter_timeout)
        self._drop_stale(self._admitted_seen, now, self._rules.admitted_idle)
        while self._admissions and self._admissions[0] <= now - RATE_WINDOW_SECONDS:
            self._admissions.popleft()
        count = admissible(
            waiting=len(self._waiting_seqs),
            admitted=len(self._admitted_seen),
            admitted_last_minute=len(self._admissions),
            rules=self._rules,
        )
        for _ in range(count):
            seq = self._waiting_seqs.pop(0)
            entry = self._entries[self._user_by_seq.pop(seq)]
            del self._waiters_seen[entry.user_id]
            entry.state = QueueState.ADMITTED
            entry.last_seen = now
            self._admitted_seen[entry.user_id] = None
            self._admissions.append(now)
            if self._first_admission is None:
                self._first_admission = now

    def _ticket(self, entry: _Entry) -> Ticket:
        position = (
            0
            if entry.state is QueueState.ADMITTED
            else self._waiting_seqs.bisect_left(entry.seq) + 1
        )
        return Ticket(
            user_id=entry.user_id,
            jti=entry.jti,
            seq=entry.seq,
            issued_at=entry.issued_at,
            token_expires_at=entry.token_expires_at,
            state=entry.state,
            position=position,
            lapses_at=lapses_at(state=entry.state, last_seen=entry.last_seen, rules=self._rules),
        )

    def _stats(self, now: float) -> LineStats:
        observed = 0.0 if self._first_admission is None else now - self._first_admission
        return LineStats(
            waiting=len(self._waiting_seqs),
            admitted=len(self._admitted_seen),
            admitted_last_minute=len(self._admissions),
            observed_seconds=observed,
        )
