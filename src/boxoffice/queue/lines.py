"""Which lines exist, and starting a line in the store from its lasting record.

The database keeps each line's rules as the operator set them; the store (Redis, or
this process) keeps the line itself. When the store answers that it has no such line
— it never had it, or it lost its data — the line is seeded from the database and the
step tried again. A seed after the first is a reset, counted where the operator sees it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import TypeVar

from boxoffice.errors import ConcertNotFound
from boxoffice.queue import repository
from boxoffice.queue.model import DEFAULT_LINE, LineRules, Sells, concert_line
from boxoffice.queue.repository import StoredLine
from boxoffice.queue.store import LineMissing, QueueStore
from boxoffice.storage.db import Database
from boxoffice.storage.query import Conn

T = TypeVar("T")


def rules_of(stored: StoredLine, defaults: LineRules) -> LineRules:
    return replace(
        defaults,
        capacity=stored.capacity,
        per_minute=stored.per_minute,
        paused=stored.paused,
        opens_at=None if stored.opens_at is None else stored.opens_at.timestamp(),
        seed=stored.draw_seed or "",
        places_per_address=stored.places_per_address,
        challenge=stored.challenge,
    )


class Lines:
    def __init__(
        self,
        *,
        db: Database,
        store: QueueStore,
        defaults: LineRules,
        clock: Callable[[], datetime],
    ) -> None:
        self._db = db
        self._store = store
        self.defaults = defaults
        self._clock = clock
        self._by_concert: dict[int, StoredLine] = {}
        self._seeding: dict[str, asyncio.Future[None]] = {}

    def line_for(self, concert_id: int | None) -> str:
        """The line a concert is sold through: its own, if it has one."""
        if concert_id is not None and concert_id in self._by_concert:
            return concert_line(concert_id)
        return DEFAULT_LINE

    def sells(self, line: str) -> Sells:
        """What ``line`` sells: its own concert's line, whether or not this instance
        knows it yet; the default line, every concert without a line it knows of."""
        return Sells.of(line, concerts_with_lines=self._by_concert.keys())

    def concert_of(self, line: str) -> int | None:
        for concert_id, stored in self._by_concert.items():
            if stored.line == line:
                return concert_id
        return None

    def all(self) -> list[str]:
        return [DEFAULT_LINE, *(stored.line for stored in self._by_concert.values())]

    def concert_lines(self) -> dict[int, StoredLine]:
        return dict(self._by_concert)

    def known(self, stored: StoredLine) -> None:
        """A concert line created or changed here: known at once, not at the next refresh."""
        if stored.concert_id is not None:
            self._by_concert[stored.concert_id] = stored

    async def look_up(self, concert_id: int) -> str:
        """The line a concert is sold through, asked of the database: for a concert
        this instance knows no line of, which another instance may have given it since
        the last refresh. Raises ``ConcertNotFound`` for a concert that does not exist."""
        async with self._db.statement() as conn:
            found, stored = await repository.line_of_concert(conn, concert_id=concert_id)
        if not found:
            raise ConcertNotFound(f"no concert {concert_id}")
        if stored is not None:
            self.known(stored)
        return self.line_for(concert_id)

    async def refresh(self) -> None:
        async with self._db.read() as conn:
            self._by_concert = await repository.concert_lines(conn)

    async def run(self, line: str, step: Callable[[], Awaitable[T]]) -> T:
        """``step`` on ``line``, seeding the line first if the store does not have it."""
        try:
            return await step()
        except LineMissing:
            await self.seed(line)
            return await step()

    async def seed(self, line: str) -> None:
        """Seed ``line`` from its record, once per process however many ask at once."""
        pending = self._seeding.get(line)
        if pending is None:
            pending = self._seeding[line] = asyncio.ensure_future(self._seed(line))
            pending.add_done_callback(lambda _: self._seeding.pop(line, None))
        await asyncio.shield(pending)

    async def _seed(self, line: str) -> None:
        async def work(conn: Conn) -> None:
            if line == DEFAULT_LINE:
                await repository.add_if_missing(
                    conn, line=line, concert_id=None, rules=self.defaults
                )
            stored = await repository.get(conn, line=line, lock=True)
            if stored is None:
                raise LineMissing(line)
            if await self._store.seed(line, rules_of(stored, self.defaults)):
                await repository.mark_seeded(conn, line=line, now=self._clock().astimezone(UTC))

        await self._db.run(work)
