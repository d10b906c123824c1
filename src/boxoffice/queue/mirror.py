"""A per-process mirror of the Redis lines, kept current by tailing their event streams.

Status polls are most of a sale's traffic. With the mirror, an instance answers a
poll from memory — position by bisecting a sorted list of places — and never waits on
Redis. The mirror trails Redis by the time one event takes to arrive, plus at most
``GATHER_SECONDS`` while events keep coming; anything it does not know yet is asked of
Redis directly, and a ticket this instance took out of the line is gone from it at
once. A line that Redis started afresh (a restart that lost its data, or a seed) is
loaded again: its epoch is checked every second, and a clear event or a lost
connection forces it.

A load never holds Redis for long, whatever the line's length: it reads the line a
page at a time (``snapshot.lua``, about ``LOAD_PAGE`` tickets a call) from the id of
the stream's last event, into a copy that replaces the mirror's view when complete,
and then replays the stream from that id. Applying an event is idempotent (a join
already loaded, an admission already counted, a removal of what is gone change
nothing), so what changed while the pages were read comes out right. Until the copy
is complete the line's polls are asked of Redis, as for a ticket the mirror does not
know yet. A load that fails is tried again after a backoff, not at once.

Each line's stream is read on its own terms: the lines whose streams one ``XREAD`` may
name together share a reader (a task, with its loads, epoch checks and reads). On one
Redis that is every line, so any number of lines costs one blocked connection and one
read; on a Redis Cluster a command's keys must share a hash slot, so each line (each
slot) has a reader of its own, reading from the master that holds it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import RedisCluster
from sortedcontainers import SortedKeyList

from boxoffice.background import cancelling
from boxoffice.queue.model import (
    RATE_WINDOW_SECONDS,
    LineEntry,
    LineRules,
    LineStats,
    Ticket,
    seen_at,
    waiting_order,
)
from boxoffice.queue.redis_client import RedisClient
from boxoffice.queue.scripts import LineKeys, Scripts, keys_line_id, text
from boxoffice.queue.store import LineMissing

log = logging.getLogger("boxoffice.queue")

READ_BLOCK_MS = 1_000
READ_BATCH = 10_000
EPOCH_CHECK_SECONDS = 1.0
# After a read that found events, the next waits this long, so that one read carries
# many events (a read's cost is most of an event's at a sale's rate of joins). What
# the wait delays is what this instance hears of other instances' steps; a fan's
# next poll is a second or more away. In process, 50 ms against 10 ms took about 9%
# off a join's CPU at sixteen joins at a time.
GATHER_SECONDS = 0.05
# Tickets per page of a load. A command another client sends during a page waits for
# the rest of it: about 5 us a ticket (bench memory: 2.6 ms for 500 on an idle machine,
# 0.7 ms for 50 on a busy one). Pages of 50 load as fast as pages of 200, pages of 25
# a third slower; pauses between pages (1 ms at least: the event loop's timers) only
# made the load longer (docs/benchmarks.md, Memory).
LOAD_PAGE = 50
# A failed read or load is tried again after this, doubled each time up to the most.
RETRY_FIRST_SECONDS = 0.5
RETRY_MOST_SECONDS = 8.0


class MirrorEntry(LineEntry):
    __slots__ = ()

    def ticket(self, user_id: int, *, rank: int, rules: LineRules, now: float) -> Ticket:
        """The ticket as the fan is told it now, polling (so seen now)."""
        last_seen = now if self.admitted else seen_at(rules=rules, now=now)
        return self.ticket_at(user_id, rank=rank, rules=rules, now=now, last_seen=last_seen)


@dataclass(slots=True)
class _View:
    keys: LineKeys
    entries: dict[int, MirrorEntry] = field(default_factory=dict)
    waiting: SortedKeyList = field(default_factory=lambda: SortedKeyList(key=waiting_order))
    admitted: int = 0
    # (when, 'user:seq') of each admission in the rate window, oldest first; ``counted``
    # holds their members, so an admission loaded and replayed is counted once.
    admissions: deque[tuple[float, str]] = field(default_factory=deque)
    counted: set[str] = field(default_factory=set)
    first_admission: float | None = None
    last_id: str = "0-0"
    epoch: str = ""
    synced: bool = False


@dataclass(slots=True)
class _Reader:
    """Lines whose streams are read together, by one task."""

    views: dict[str, _View] = field(default_factory=dict)
    by_stream: dict[str, _View] = field(default_factory=dict)
    task: asyncio.Task[None] | None = None
    checked_at: float = 0.0


class LineMirror:
    def __init__(self, client: RedisClient, scripts: Scripts, *, prefix: str) -> None:
        """``client`` is the mirror's own (its reads block), with decoded replies; the
        mirror closes it when it stops."""
        self._redis = client
        self._redis.set_response_callback("XREAD", _as_sent)
        self._scripts = scripts
        self._prefix = prefix
        self._views: dict[str, _View] = {}
        self._readers: dict[int, _Reader] = {}
        self._started = False

    def follow(self, line: str) -> None:
        """Start mirroring ``line`` (it is loaded on its reader's next turn)."""
        if line in self._views:
            return
        view = _View(LineKeys.of(self._prefix, line))
        self._views[line] = view
        reader = self._readers.setdefault(self._slot(view.keys.events), _Reader())
        reader.views[line] = view
        reader.by_stream[view.keys.events] = view
        if self._started and reader.task is None:
            reader.task = asyncio.create_task(self._follow(reader))

    def _slot(self, key: str) -> int:
        """Which reader a line's stream goes to: its hash slot on a cluster, the one
        reader on one Redis."""
        return self._redis.keyslot(key) if isinstance(self._redis, RedisCluster) else 0

    def synced(self, line: str) -> bool:
        view = self._views.get(line)
        return view is not None and view.synced

    def start(self) -> None:
        self._started = True
        for reader in self._readers.values():
            if reader.task is None:
                reader.task = asyncio.create_task(self._follow(reader))

    async def stop(self) -> None:
        self._started = False
        for reader in self._readers.values():
            if reader.task is not None:
                reader.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader.task
                reader.task = None
        await self._redis.aclose()

    def find(self, line: str, user_id: int, jti: str) -> tuple[MirrorEntry, int] | None:
        """The user's entry and how many wait ahead, if the mirror knows this ticket."""
        view = self._views.get(line)
        if view is None or not view.synced:
            return None
        entry = view.entries.get(user_id)
        if entry is None or entry.jti != jti:
            return None
        if entry.admitted:
            return entry, 0
        return entry, view.waiting.bisect_left((entry.place, user_id))

    def forget(self, line: str, user_id: int, jti: str | None = None) -> None:
        """A ticket this instance has just taken out of the line (``jti`` None: the
        user's, whichever it is): answered as gone at once, not when its removal comes
        round the stream. A poll the mirror cannot answer is asked of Redis."""
        view = self._views.get(line)
        if view is None:
            return
        entry = view.entries.get(user_id)
        if entry is not None and (jti is None or entry.jti == jti):
            _remove(view, user_id, entry)

    def stats(self, line: str, now: float) -> LineStats:
        view = self._views[line]
        while view.admissions and view.admissions[0][0] <= now - RATE_WINDOW_SECONDS:
            view.counted.discard(view.admissions.popleft()[1])
        first = view.first_admission
        return LineStats(
            waiting=len(view.waiting),
            admitted=view.admitted,
            admitted_last_minute=len(view.admissions),
            observed_seconds=0.0 if first is None else now - first,
        )

    async def _follow(self, reader: _Reader) -> None:
        failures = 0
        while not cancelling():
            try:
                for view in list(reader.views.values()):
                    if not view.synced:
                        with contextlib.suppress(LineMissing):  # seeded on first use
                            await self._load(view)
                await self._check_epochs(reader)
                await self._read(reader)
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                wait = min(RETRY_MOST_SECONDS, RETRY_FIRST_SECONDS * 2 ** (failures - 1))
                wait *= 0.5 + random.random() / 2  # instances that failed together spread out
                log.warning(
                    "waiting-room mirror lost Redis (%r); resynchronising in %.1f s", exc, wait
                )
                for view in reader.views.values():
                    view.synced = False
                await asyncio.sleep(wait)

    async def _load(self, view: _View) -> None:
        """Read the line page by page into a copy; it replaces the view only whole, and
        only if the line was not started afresh meanwhile (else the next turn loads
        again) and the stream still holds every event since the first page."""
        started = time.monotonic()
        head = (await self._scripts.run("snapshot", view.keys, "head", "0", 0)).body
        epoch, last_id, first = text(head[0]), text(head[1]), text(head[2])
        fresh = _View(view.keys)
        for part in ("waiting", "admitted", "admissions"):
            cursor = "0"
            while True:
                page = await self._scripts.run("snapshot", view.keys, part, cursor, LOAD_PAGE)
                if text(page.body[0]) != epoch:
                    return
                cursor, found = text(page.body[1]), page.body[2]
                if part == "admissions":
                    for i in range(0, len(found), 2):
                        _count_admission(fresh, text(found[i]), float(text(found[i + 1])))
                else:
                    _load_rows(fresh, found, admitted=part == "admitted")
                if cursor == "0":
                    break
        if not await self._stream_holds(view.keys.events, last_id):
            log.warning("waiting-room mirror: the stream moved on while it loaded; again")
            return
        view.entries = fresh.entries
        view.waiting = SortedKeyList(
            ((e.place, u) for u, e in fresh.entries.items() if not e.admitted), key=waiting_order
        )
        view.admitted = len(fresh.entries) - len(view.waiting)
        view.admissions = deque(sorted(fresh.admissions))
        view.counted = fresh.counted
        view.first_admission = float(first) if first else None
        view.last_id, view.epoch, view.synced = last_id, epoch, True
        log.info(
            "waiting-room mirror loaded %s: %d tickets in %.1f s",
            keys_line_id(view.keys),
            len(view.entries),
            time.monotonic() - started,
        )

    async def _stream_holds(self, stream: str, last_id: str) -> bool:
        """Whether the stream still holds the events after ``last_id`` (its oldest
        entries are trimmed as new ones come)."""
        oldest: Any = await self._redis.xrange(stream, "-", "+", count=1)
        return not oldest or last_id == "0-0" or _event_id(text(oldest[0][0])) <= _event_id(last_id)

    async def _check_epochs(self, reader: _Reader) -> None:
        """A line started afresh under the mirror's feet is loaded again."""
        if time.monotonic() - reader.checked_at < EPOCH_CHECK_SECONDS or not reader.views:
            return
        reader.checked_at = time.monotonic()
        views = list(reader.views.values())
        async with self._redis.pipeline(transaction=False) as pipe:
            for view in views:
                pipe.hget(view.keys.line, "epoch")
            epochs = await pipe.execute()
        for view, epoch in zip(views, epochs, strict=True):
            if view.synced and (epoch is None or text(epoch) != view.epoch):
                view.synced = False

    async def _read(self, reader: _Reader) -> None:
        views = [v for v in reader.views.values() if v.synced]
        if not views:
            await asyncio.sleep(READ_BLOCK_MS / 1000)
            return
        # XREAD's reply as Redis sends it (RESP3, text): {stream: [[id, [field, value,
        # ...]], ...]}, or None when nothing came within the block. Every event of a
        # sale passes here, so the client's own reshaping is skipped: a field list
        # becomes a dict in one step.
        batches = await self._xread(
            "XREAD",
            *("COUNT", READ_BATCH, "BLOCK", READ_BLOCK_MS, "STREAMS"),
            *(v.keys.events for v in views),
            *(v.last_id for v in views),
        )
        read = 0
        for stream, events in (batches or {}).items():
            view = reader.by_stream[stream]
            read += len(events)
            for event_id, fields in events:
                if view.synced:
                    pairs = iter(fields)
                    _apply(view, dict(zip(pairs, pairs, strict=True)))
                    view.last_id = event_id
        if 0 < read < READ_BATCH:
            await asyncio.sleep(GATHER_SECONDS)

    async def _xread(self, *command: str | int) -> Any:
        """On a cluster, sent straight to the master of the streams' slot: redis-py
        would otherwise ask a node which keys an XREAD names (``COMMAND GETKEYS``)
        before every read. A slot that moved is followed as for any command."""
        if not isinstance(self._redis, RedisCluster):
            return await self._redis.execute_command(*command)  # type: ignore[no-untyped-call]
        await self._redis.initialize()  # at once unless a lost node made it ask again
        node = self._redis.get_node_from_key(str(command[command.index("STREAMS") + 1]))
        return await self._redis.execute_command(*command, target_nodes=node)


def _as_sent(response: Any, **_options: Any) -> Any:
    return response


def _apply(view: _View, event: dict[str, str]) -> None:
    kind = event["e"]
    if kind == "c":  # the line was cleared: load it again
        view.synced = False
        return
    user, seq = int(event["u"]), int(event["s"])
    entry = view.entries.get(user)
    if kind == "j":
        if entry is not None:
            if entry.seq >= seq:  # loaded already, or older than what was loaded
                return
            _remove(view, user, entry)
        place = float(event["p"])
        view.entries[user] = MirrorEntry(
            jti=event["k"],
            seq=seq,
            issued_at=int(event["i"]),
            token_expires_at=int(event["x"]),
            place=place,
            admitted=False,
        )
        view.waiting.add((place, user))
    elif kind == "a":
        at = float(event["t"])
        _count_admission(view, f"{user}:{seq}", at)
        if view.first_admission is None:
            view.first_admission = at
        if entry is not None and entry.seq == seq and not entry.admitted:
            entry.admitted = True
            view.waiting.discard((entry.place, user))
            view.admitted += 1
    elif kind == "r" and entry is not None and entry.seq == seq:
        _remove(view, user, entry)


def _load_rows(view: _View, rows: list[Any], *, admitted: bool) -> None:
    """A page of tickets into a view being loaded (only its ``entries``): a ticket met
    twice (a page may repeat one, and a waiter admitted between the pages is met in
    both sets) is kept in its latest state."""
    for user, jti, seq, iat, exp, place in rows:
        user_id, seq_no = int(user), int(seq)
        seen = view.entries.get(user_id)
        if seen is not None and (seen.seq > seq_no or (seen.seq == seq_no and seen.admitted)):
            continue
        view.entries[user_id] = MirrorEntry(
            jti=text(jti),
            seq=seq_no,
            issued_at=int(iat),
            token_expires_at=int(text(exp)),
            place=float(text(place)) if text(place) else 0.0,
            admitted=admitted,
        )


def _count_admission(view: _View, member: str, at: float) -> None:
    if member not in view.counted:
        view.counted.add(member)
        view.admissions.append((at, member))


def _event_id(event_id: str) -> tuple[int, int]:
    ms, _, seq = event_id.partition("-")
    return int(ms), int(seq or 0)


def _remove(view: _View, user: int, entry: MirrorEntry) -> None:
    del view.entries[user]
    if entry.admitted:
        view.admitted -= 1
    else:
        view.waiting.discard((entry.place, user))
