"""The operator's side of the waiting room: a line's view and controls, and the
background work that keeps every line moving (admitting when nobody polls, recording
opening draws, closing a line whose concert sold out)."""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import Enum
from functools import partial

from boxoffice.errors import LineOpen
from boxoffice.queue import repository
from boxoffice.queue.lines import Lines, rules_of
from boxoffice.queue.model import DEFAULT_LINE, LineRules, LineStats, concert_line
from boxoffice.queue.repository import StoredDraw, StoredLine
from boxoffice.queue.store import LineAlreadyOpen, LineMissing, QueueStore
from boxoffice.queue.supply import SeatSupply
from boxoffice.storage.db import Database
from boxoffice.storage.query import Conn

log = logging.getLogger("boxoffice.queue")

LINES_REFRESH_SECONDS = 1.0
# The addresses an operator is shown, those holding the most places first.
TOP_ADDRESSES = 10


class Keep(Enum):
    """A setting the operator did not name in a change: it keeps its value."""

    KEEP = "keep"


@dataclass(frozen=True, slots=True)
class Defences:
    """A change to a line's defences: each field ``Keep.KEEP`` or its new value
    (``places_per_address`` None: no cap)."""

    places_per_address: int | Keep | None = Keep.KEEP
    challenge: str | Keep = Keep.KEEP

    def on(self, stored: StoredLine) -> StoredLine:
        cap, challenge = self.places_per_address, self.challenge
        return replace(
            stored,
            places_per_address=stored.places_per_address if cap is Keep.KEEP else cap,
            challenge=stored.challenge if challenge is Keep.KEEP else challenge,
        )


@dataclass(frozen=True, slots=True)
class DrawView:
    """An opening's draw: before it, only the seed's hash (a commitment nobody can
    work back from); after it, the seed itself, so anyone can check the order."""

    opens_at: datetime
    seed_commitment: str
    seed: str | None
    entrants: int | None
    drawn_at: datetime | None


@dataclass(frozen=True, slots=True)
class LineView:
    line: str
    concert_id: int | None
    rules: LineRules
    stats: LineStats
    resets: int
    last_reset_at: datetime | None
    draw: DrawView | None
    top_addresses: list[tuple[str, int]]


def commitment(seed: str) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()


def _draw_view(stored: StoredLine, last: StoredDraw | None, now: datetime) -> DrawView | None:
    if stored.opens_at is None or not stored.draw_seed:
        return None
    opened = now >= stored.opens_at
    recorded = last if last is not None and last.opens_at == stored.opens_at else None
    return DrawView(
        opens_at=stored.opens_at,
        seed_commitment=commitment(stored.draw_seed),
        seed=stored.draw_seed if opened else None,
        entrants=None if recorded is None else recorded.entrants,
        drawn_at=None if recorded is None else recorded.drawn_at,
    )


class LineControl:
    def __init__(
        self,
        *,
        db: Database,
        store: QueueStore,
        lines: Lines,
        supply: SeatSupply,
        clock: Callable[[], datetime],
    ) -> None:
        self._db = db
        self._store = store
        self._lines = lines
        self._supply = supply
        self._clock = clock
        self._recorded: set[tuple[str, float]] = set()
        self._refreshed_at = float("-inf")

    async def view(self, *, line: str) -> LineView:
        stats = await self._lines.run(line, lambda: self._store.advance(line=line))
        stored, last = await self._record(line)
        if stored is None:
            # The line is in the store, and its record may still be in the transaction
            # seeding it (the tick's, on a new database): wait for that seed, then read.
            await self._lines.seed(line)
            stored, last = await self._record(line)
        if stored is None:
            raise LineMissing(line)
        return LineView(
            line=line,
            concert_id=stored.concert_id,
            rules=await self._store.rules(line),
            stats=stats,
            resets=stored.resets,
            last_reset_at=stored.last_reset_at,
            draw=_draw_view(stored, last, self._clock()),
            top_addresses=await self._store.top_addresses(line, count=TOP_ADDRESSES),
        )

    async def _record(self, line: str) -> tuple[StoredLine | None, StoredDraw | None]:
        async with self._db.read() as conn:
            return (
                await repository.get(conn, line=line),
                await repository.last_draw(conn, line=line),
            )

    async def evict(
        self, *, line: str, user_id: int | None = None, address: str | None = None
    ) -> list[int]:
        """Take a fan, or every fan of an address, out of the line: their tokens are
        not live from now on (401 ``token_expired``); they may join again, at the back."""
        user_ids = () if user_id is None else (user_id,)
        return await self._lines.run(
            line, lambda: self._store.evict(line=line, user_ids=user_ids, address=address)
        )

    async def configure(
        self,
        *,
        concert_id: int | None,
        capacity: int | None = None,
        per_minute: int | None = None,
        paused: bool | None = None,
        opens_at: datetime | Keep | None = Keep.KEEP,
        defences: Defences | None = None,
    ) -> LineView:
        """Change a line's rules (a concert's line is made on first use). The store is
        changed while the database row is locked, so two operators' changes land in
        the same order in both."""
        line = DEFAULT_LINE if concert_id is None else concert_line(concert_id)
        defaults = self._lines.defaults

        async def work(conn: Conn) -> StoredLine:
            await repository.add_if_missing(conn, line=line, concert_id=concert_id, rules=defaults)
            stored = await repository.get(conn, line=line, lock=True)
            assert stored is not None
            changed = self._changed(stored, capacity, per_minute, paused, opens_at)
            if defences is not None:
                changed = defences.on(changed)
            await repository.save_rules(conn, changed)
            await self._apply(conn, line, rules_of(changed, defaults))
            return changed

        stored = await self._db.run(work)
        self._lines.known(stored)
        if concert_id is not None:
            await self._supply.update({concert_id: stored})
        return await self.view(line=line)

    async def _apply(self, conn: Conn, line: str, rules: LineRules) -> None:
        """Put the rules on the store's line (starting it if the store lost it)."""
        try:
            await self._store.configure(line, rules)
        except LineAlreadyOpen:
            raise LineOpen(
                "the line has opened with fans in it; its opening can no longer move"
            ) from None
        except LineMissing:
            if await self._store.seed(line, rules):
                await repository.mark_seeded(conn, line=line, now=self._clock())

    def _changed(
        self,
        stored: StoredLine,
        capacity: int | None,
        per_minute: int | None,
        paused: bool | None,
        opens_at: datetime | Keep | None,
    ) -> StoredLine:
        new_open = stored.opens_at if opens_at is Keep.KEEP else opens_at
        seed = stored.draw_seed
        now = self._clock()
        still_before = stored.opens_at is not None and stored.opens_at > now
        if new_open is not None and new_open != stored.opens_at and not (seed and still_before):
            seed = secrets.token_hex(16)  # a new opening draws with a new seed
        return StoredLine(
            line=stored.line,
            concert_id=stored.concert_id,
            capacity=stored.capacity if capacity is None else capacity,
            per_minute=stored.per_minute if per_minute is None else per_minute,
            paused=stored.paused if paused is None else paused,
            opens_at=None if new_open is None else new_open.astimezone(UTC),
            draw_seed=seed,
            resets=stored.resets,
            last_reset_at=stored.last_reset_at,
            places_per_address=stored.places_per_address,
            challenge=stored.challenge,
        )

    async def tick(self) -> dict[str, LineStats]:
        """One round of the background work on every line; the counts by line."""
        if time.monotonic() - self._refreshed_at >= LINES_REFRESH_SECONDS:
            await self._lines.refresh()
            self._refreshed_at = time.monotonic()
        counts: dict[str, LineStats] = {}
        for line in self._lines.all():
            counts[line] = await self._lines.run(line, partial(self._store.advance, line=line))
        await self._supply.update(self._lines.concert_lines())
        await self._record_draws()
        return counts

    async def _record_draws(self) -> None:
        now = self._clock()
        for stored in self._lines.concert_lines().values():
            if stored.opens_at is None or stored.opens_at > now or not stored.draw_seed:
                continue
            key = (stored.line, stored.opens_at.timestamp())
            if key in self._recorded:
                continue
            drawn = await self._store.drawn(stored.line)
            if drawn is None:
                continue
            async with self._db.transaction() as conn:
                await repository.add_draw(
                    conn,
                    line=stored.line,
                    opens_at=stored.opens_at,
                    drawn_at=datetime.fromtimestamp(drawn.drawn_at, tz=UTC),
                    seed=stored.draw_seed,
                    order=drawn.order,
                )
            await self._store.forget_draw(stored.line)
            self._recorded.add(key)
            log.info("line %s opened: %d fans drawn into order", stored.line, len(drawn.order))
