"""How many seats each concert's line has left to sell, told to its line: counted by
the background tick for every line, and at once after a sale when few are left, so a
line closes on its last sale. Both the fans' side (``WaitingRoom``) and the
operator's (``LineControl``) are given this one counter when the app is built."""

from __future__ import annotations

from functools import partial

from boxoffice.clock import Clock
from boxoffice.queue import repository
from boxoffice.queue.lines import Lines
from boxoffice.queue.repository import StoredLine
from boxoffice.queue.store import QueueStore
from boxoffice.storage.db import Database


class SeatSupply:
    def __init__(self, *, db: Database, store: QueueStore, lines: Lines, clock: Clock) -> None:
        self._db = db
        self._store = store
        self._lines = lines
        self._clock = clock

    async def recount(self, concert_id: int) -> None:
        """Count a concert's seats left now (after a sale), closing its line if none is."""
        stored = self._lines.concert_lines().get(concert_id)
        if stored is not None:
            await self.update({concert_id: stored})

    async def update(self, by_concert: dict[int, StoredLine]) -> None:
        """Tell each concert's line how many seats are left, and close it once every
        seat of its schedules still to come is sold."""
        if not by_concert:
            return
        async with self._db.read() as conn:
            supply = await repository.supply(conn, concert_ids=list(by_concert), now=self._clock())
        for concert_id, stored in by_concert.items():
            found = supply.get(concert_id)
            seats_left = None if found is None else found.unsold
            sold_out = found is not None and found.unsold == 0  # nothing left to sell
            rules = await self._lines.run(stored.line, partial(self._store.rules, stored.line))
            if rules.seats_left != seats_left or (rules.sold_out_at is not None) != sold_out:
                await self._store.set_supply(stored.line, seats_left=seats_left, sold_out=sold_out)
