"""A per-process mirror of the Redis line, kept current by tailing its event stream.

Status polls are most of a sale's traffic. With the mirror, an instance answers a
poll from memory — position by bisecting a sorted list of arrival numbers — and
never waits on Redis. The mirror trails Redis by the time one event takes to
arrive (milliseconds); anything it does not know yet is asked of Redis directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from sortedcontainers import SortedList

from boxoffice.queue.model import RATE_WINDOW_SECONDS, LineStats, QueueState

log = logging.getLogger("boxoffice.queue")

READ_BLOCK_MS = 1_000
READ_BATCH = 10_000


@dataclass(slots=True)
class MirrorEntry:
    jti: str
    seq: int
    issued_at: int
    token_expires_at: int
    state: QueueState


def _s(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class LineMirror:
    def __init__(self, client: Redis, *, prefix: str, snapshot: Any) -> None:
        self._redis = client
        self._events_key = prefix + "events"
        self._snapshot_script = snapshot
        self._prefix = prefix
        self.entries: dict[int, MirrorEntry] = {}
        self.waiting = SortedList()
        self._admitted = 0
        self._admissions: deque[float] = deque()
        self._first_admission: float | None = None
        self._last_id = "0-0"
        self.synced = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._follow())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def find(self, user_id: int, jti: str) -> tuple[MirrorEntry, int] | None:
        """The user's entry and position, if the mirror knows this very ticket."""
        entry = self.entries.get(user_id)
        if entry is None or entry.jti != jti:
            return None
        if entry.state is QueueState.ADMITTED:
            return entry, 0
        return entry, self.waiting.bisect_left(entry.seq) + 1

    def stats(self, now: float) -> LineStats:
        while self._admissions and self._admissions[0] <= now - RATE_WINDOW_SECONDS:
            self._admissions.popleft()
        observed = 0.0 if self._first_admission is None else now - self._first_admission
        return LineStats(
            waiting=len(self.waiting),
            admitted=self._admitted,
            admitted_last_minute=len(self._admissions),
            observed_seconds=observed,
        )

    async def _follow(self) -> None:
        while True:
            try:
                if not self.synced:
                    await self._load()
                await self._read()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("waiting-room mirror lost Redis; resynchronising")
                self.synced = False
                await asyncio.sleep(0.5)

    async def _load(self) -> None:
        raw = await self._snapshot_script(args=[self._prefix, "0"])
        last_id, waiting, admitted, admissions, first = raw
        self.entries.clear()
        self.waiting.clear()
        for rows, state in ((waiting, QueueState.WAITING), (admitted, QueueState.ADMITTED)):
            for i in range(0, len(rows), 6):
                user, jti, seq, iat, exp, _ = rows[i : i + 6]
                entry = MirrorEntry(
                    jti=_s(jti),
                    seq=int(seq),
                    issued_at=int(float(iat)),
                    token_expires_at=int(float(exp)),
                    state=state,
                )
                self.entries[int(user)] = entry
                if state is QueueState.WAITING:
                    self.waiting.add(entry.seq)
        self._admitted = len(admitted) // 6
        # ZRANGE ... WITHSCORES comes back in score (time) order already.
        self._admissions = deque(float(admissions[i + 1]) for i in range(0, len(admissions), 2))
        self._first_admission = float(_s(first)) if _s(first) else None
        self._last_id = _s(last_id)
        self.synced = True

    async def _read(self) -> None:
        batches: Any = await self._redis.xread(
            {self._events_key: self._last_id}, count=READ_BATCH, block=READ_BLOCK_MS
        )
        for _stream, events in batches or ():
            for event_id, fields in events:
                self._apply({_s(k): _s(v) for k, v in fields.items()})
                self._last_id = _s(event_id)

    def _apply(self, event: dict[str, str]) -> None:
        kind, user = event["e"], int(event["u"])
        seq = int(event["s"])
        if kind == "j":
            self.entries[user] = MirrorEntry(
                jti=event["k"],
                seq=seq,
                issued_at=int(event["i"]),
                token_expires_at=int(event["x"]),
                state=QueueState.WAITING,
            )
            self.waiting.add(seq)
        elif kind == "a":
            entry = self.entries.get(user)
            if entry is not None and entry.seq == seq:
                entry.state = QueueState.ADMITTED
            self.waiting.discard(seq)
            self._admitted += 1
            at = float(event["t"])
            self._admissions.append(at)
            if self._first_admission is None:
                self._first_admission = at
        elif kind == "r":
            entry = self.entries.get(user)
            if entry is not None and entry.seq == seq:
                del self.entries[user]
                if entry.state is QueueState.ADMITTED:
                    self._admitted -= 1
            self.waiting.discard(seq)
