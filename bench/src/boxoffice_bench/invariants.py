"""After a run, the invariants read back from storage: a broken one fails the run."""

from __future__ import annotations

from redis.asyncio import Redis
from sqlalchemy import func, select

from boxoffice.queue.model import DEFAULT_LINE, draw_rank
from boxoffice.queue.scripts import LineKeys
from boxoffice.storage import audit
from boxoffice.storage.db import Database
from boxoffice.storage.tables import line_draws, payments, seats, waiting_rooms
from boxoffice_bench.server import BenchServer

Event = dict[str, str]


async def check_invariants(server: BenchServer, log: EventLog | None = None) -> list[str]:
    """DESIGN's I1 to I3 on the run's PostgreSQL database and Redis lines: each seat
    sold at most once and paid for, every ledger summing to its balance, no balance
    below zero, no admission out of line order, every opening draw the order its
    seed gives. ``log``: the lines' events as the run read them (a run that adds
    more events than a line's stream keeps must read them as it goes)."""
    problems = await _storage(server.database_url)
    if log is None:
        log = EventLog(server)
    await log.catch_up()
    for line, events in log.events.items():
        problems += [f"line {line}: {p}" for p in admission_order(events)]
        if log.lost.get(line):
            problems.append(
                f"line {line}: {log.lost[line]} events trimmed from the stream before they "
                "were read: admission order unchecked for them"
            )
    return problems


async def line_events(server: BenchServer) -> dict[str, list[Event]]:
    """Every line's event stream (joins, admissions, removals, clears), oldest first."""
    log = EventLog(server)
    await log.catch_up()
    return log.events


class EventLog:
    """Every line's events (joins, admissions, removals, clears), oldest first, read
    as a run goes: a line's stream keeps only its latest events (``EVENTS_MAXLEN``),
    so a run that adds more reads them between its measurements. Events trimmed
    before they were read are counted in ``lost``, by line (Redis counts every event
    a stream was ever given)."""

    def __init__(self, server: BenchServer) -> None:
        self._server = server
        self.events: dict[str, list[Event]] = {}
        self.lost: dict[str, int] = {}
        self._last: dict[str, str] = {}

    async def catch_up(self) -> None:
        """Read what every line's stream was given since the last call."""
        db = Database(self._server.database_url)
        try:
            async with db.core.connect() as conn:
                lines = {DEFAULT_LINE, *(await conn.scalars(select(waiting_rooms.c.line)))}
        finally:
            await db.dispose()
        redis = Redis.from_url(self._server.redis_url)
        try:
            for line in sorted(lines):
                await self._read(redis, line)
        finally:
            await redis.aclose()

    async def _read(self, redis: Redis, line: str) -> None:
        key = LineKeys.of(self._server.prefix, line).events
        after = self._last.get(line)
        async with redis.pipeline(transaction=True) as pipe:
            pipe.xrange(key, min="-" if after is None else f"({after}")
            pipe.xinfo_stream(key)
            raw, info = await pipe.execute(raise_on_error=False)
        if isinstance(info, Exception):  # no such stream: a line nobody joined
            self.events.setdefault(line, [])
            return
        events = self.events.setdefault(line, [])
        events += [{k.decode(): v.decode() for k, v in fields.items()} for _, fields in raw]
        if raw:
            self._last[line] = raw[-1][0].decode()
        self.lost[line] = max(0, int(info["entries-added"]) - len(events))


def admission_order(events: list[Event]) -> list[str]:
    """I3 on one line's stream: each admission's place (the arrival number it joined
    with, or its draw rank in the pre-queue) is behind every place admitted before it.
    A clear (the line started afresh) starts the count again."""
    places: dict[tuple[str, str], float] = {}
    furthest = float("-inf")
    behind = unknown = 0
    for event in events:
        if event["e"] == "c":
            places.clear()
            furthest = float("-inf")
        elif event["e"] == "j":
            places[event["u"], event["s"]] = float(event["p"])
        elif event["e"] == "a":
            place = places.get((event["u"], event["s"]))
            if place is None:
                unknown += 1
                continue
            if place < furthest:
                behind += 1
            furthest = max(furthest, place)
    problems = []
    if behind:
        problems.append(f"{behind} admissions out of line order")
    if unknown:
        problems.append(f"{unknown} admissions whose join is not in the stream: order unchecked")
    return problems


async def _storage(database_url: str) -> list[str]:
    db = Database(database_url)
    try:
        problems = await audit.audit(db)
        async with db.core.connect() as conn:
            sold = (
                await conn.execute(
                    select(func.count())
                    .select_from(seats)
                    .where(seats.c.sold_reservation_id.is_not(None))
                )
            ).scalar_one()
            paid = (await conn.execute(select(func.count()).select_from(payments))).scalar_one()
            draws = (
                await conn.execute(
                    select(
                        line_draws.c.line,
                        line_draws.c.seed,
                        line_draws.c.entrants,
                        line_draws.c.draw_order,
                    )
                )
            ).all()
    finally:
        await db.dispose()
    if sold != paid:
        problems.append(f"{sold} seats sold but {paid} payments")
    for line, seed, entrants, listed in draws:
        problems += [f"line {line}: {p}" for p in draw_problems(seed, entrants, listed)]
    return problems


def parse_order(listed: str) -> list[int]:
    return [int(u) for u in listed.split(",") if u]


def draw_problems(seed: str, entrants: int, listed: str) -> list[str]:
    """An opening draw as recorded: each entrant once, in the order anyone can work
    out from the revealed seed (the line orders ties by the member's text)."""
    order = parse_order(listed)
    problems = []
    if len(order) != entrants:
        problems.append(f"the draw lists {len(order)} fans but records {entrants} entrants")
    if len(set(order)) != len(order):
        problems.append(f"{len(order) - len(set(order))} fans drawn more than once")
    if order != sorted(order, key=lambda u: (draw_rank(seed, u), str(u))):
        problems.append("the draw's order is not the one its seed gives")
    return problems
