"""A concert sold through a line of its own that opens at a set time, as the drop
runs it: the operator's set-up, what each fan was told (held to the contract as it
is answered), and the figures read afterwards from the fans' logs, the operator's
view of the line and storage."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import func, select

from boxoffice.queue.model import concert_line
from boxoffice.storage.db import Database
from boxoffice.storage.tables import line_draws, payments
from boxoffice_bench.fixtures import ADMIN
from boxoffice_bench.invariants import line_events, parse_order
from boxoffice_bench.server import BenchServer

PRE_QUEUE, WAITING, ADMITTED, SOLD_OUT = "PRE_QUEUE", "WAITING", "ADMITTED", "SOLD_OUT"
# How a fan learned there was nothing left to buy.
TOLD_SOLD_OUT = "told SOLD_OUT"
TOKEN_LAPSED = "token lapsed (401)"
JOIN_REFUSED = "join refused (409 sold_out)"
FOUND_NOTHING = "admitted, found nothing left"
SEATS_TAKEN = "admitted, every seat tried taken"
# A pre-queue fan's poll is rounded up to whole seconds, so it may fall due up to a
# second after the opening. The slack is for the line's clock as an instance carries
# it forward from Redis's last reply: on a busy host it trails when a reply is read
# late, never leads; a server telling fans to come back far too late is off by more.
POLL_ROUNDING_SECONDS = 1.0
CLOCK_SLACK_SECONDS = 1.0
# A line closes within about a second of its last seat selling; past this it is late.
CLOSE_WITHIN_SECONDS = 5.0


class RunClock:
    """Epoch seconds read off a monotonic clock, so that the fans' times can be set
    beside the server's (Redis's and the database's clocks, on the same host)."""

    def __init__(self) -> None:
        self._offset = time.time() - time.perf_counter()

    def now(self) -> float:
        return time.perf_counter() + self._offset


def epoch(text: str | None) -> float | None:
    return None if text is None else datetime.fromisoformat(text).timestamp()


@dataclass
class FanLog:
    """What one fan saw, in epoch seconds; None: it did not happen."""

    user_id: int
    arrived_at: float
    joined_at: float | None = None
    joined_as: str | None = None  # the status the join answered, SOLD_OUT for a 409
    admitted_at: float | None = None
    bought_at: float | None = None
    learned_at: float | None = None  # when they found there was nothing for them
    learned_by: str | None = None

    def learned(self, how: str, at: float) -> None:
        self.learned_at, self.learned_by = at, how


@dataclass
class Told:
    """Each answer a fan got, held to the contract: before the opening PRE_QUEUE, no
    position, a poll due no later than the opening; SOLD_OUT with no place and no
    seat left. Each kind of wrong answer is counted."""

    opens_at: float | None
    wrong: Counter[str] = field(default_factory=Counter)

    def heard(self, body: dict[str, Any], *, sent: float, received: float) -> None:
        state = body["status"]
        if self.opens_at is not None and received < self.opens_at and state != PRE_QUEUE:
            self.wrong[f"{state} before the opening"] += 1
        if state == PRE_QUEUE:
            if body["position"] is not None:
                self.wrong["a position in the pre-queue"] += 1
            said = epoch(body.get("salesOpenAt"))
            if self.opens_at is None or said is None or abs(said - self.opens_at) > 0.001:
                self.wrong["PRE_QUEUE without the line's salesOpenAt"] += 1
            due = sent + body["pollAfterSeconds"]
            if self.opens_at is not None and due > (
                self.opens_at + POLL_ROUNDING_SECONDS + CLOCK_SLACK_SECONDS
            ):
                self.wrong["a pre-queue poll due after the opening"] += 1
        if state == SOLD_OUT and (body["position"] is not None or body.get("seatsLeft") != 0):
            self.wrong["SOLD_OUT with a position or seats left"] += 1


async def open_line(base_url: str, concert_id: int, *, opens_at: float) -> float:
    """Give the concert its own line, opening at ``opens_at`` (capacity and pace: the
    server's defaults); the opening as the server recorded it."""
    at = datetime.fromtimestamp(opens_at, tz=UTC).isoformat()
    async with httpx.AsyncClient(base_url=base_url, headers=ADMIN, timeout=60) as client:
        r = await client.put(
            f"/api/v1/admin/concerts/{concert_id}/waiting-room", json={"salesOpenAt": at}
        )
        r.raise_for_status()
    recorded = epoch(r.json()["salesOpenAt"])
    assert recorded is not None
    return recorded


@dataclass
class OpeningReport:
    """The opening and the sell-out of a concert's line: epochs, counts, and
    durations in seconds."""

    started_at: float  # the first fan's arrival
    opens_at: float
    pre_queue: int  # fans whose join was answered PRE_QUEUE
    entrants: int | None  # the draw's record
    first_admission: float | None  # after the opening, by the line's record
    first_admitted_seen: float | None  # after the opening, by the first fan told
    waits_pre_queue: list[float]  # joining to being told ADMITTED
    waits_pre_queue_from_opening: list[float]
    waits_after_opening: list[float]
    told_late_pre_queue: list[float]  # the line's admission to the fan being told
    told_late_after_opening: list[float]
    overtaking: int  # told ADMITTED while a pre-queue fan admitted ahead was not yet told
    joined_after_opening: int
    last_sold_at: float | None  # the last payment, None if seats were left
    line_closed_at: float | None  # the line's soldOutAt
    admitted_after_last_sale: int  # by the line's record, before it closed
    in_line_at_sell_out: int
    learned_after_sell_out: list[float]  # learned minus the last seat sold, those in line
    learned_by: Counter[str]
    problems: list[str]


@dataclass
class _Record:
    """The server's side of the drop: the operator's view of the line, the last
    payment, the recorded draw, and when the line admitted each fan."""

    view: dict[str, Any]
    last_paid: datetime | None
    draw_order: str | None
    admitted: dict[int, float]


async def read_opening(
    server: BenchServer,
    *,
    concert_id: int,
    fans: list[FanLog],
    told: Told,
    started_at: float,
    sold_out: bool,
    unfinished: int,
) -> OpeningReport:
    """The figures, and every way the opening or the close broke the contract."""
    line = concert_line(concert_id)
    view = await _line_view(server, concert_id, closed=sold_out)
    db = Database(server.database_url)
    try:
        async with db.core.connect() as conn:
            last_paid = (await conn.execute(select(func.max(payments.c.paid_at)))).scalar()
            listed = (
                await conn.execute(select(line_draws.c.draw_order).where(line_draws.c.line == line))
            ).scalar()
    finally:
        await db.dispose()
    admitted: dict[int, float] = {}
    for event in (await line_events(server))[line]:
        if event["e"] == "a":
            admitted.setdefault(int(event["u"]), float(event["t"]))
    record = _Record(view, last_paid if sold_out else None, listed, admitted)
    report = figures(record, fans, started_at=started_at)
    report.problems = [f"{n} answers: {what}" for what, n in sorted(told.wrong.items())]
    report.problems += _draw_problems(
        report.entrants, listed, {f.user_id for f in fans if f.joined_as == PRE_QUEUE}
    )
    early = sum(1 for t in admitted.values() if t < report.opens_at)
    if early:
        report.problems.append(f"{early} fans admitted before the opening")
    if sold_out and report.line_closed_at is None:
        report.problems.append(
            f"every seat sold but the line still open {CLOSE_WITHIN_SECONDS:g} s on"
        )
    if unfinished:
        report.problems.append(f"{unfinished} fans never learned how their visit ended")
    return report


def figures(record: _Record, fans: list[FanLog], *, started_at: float) -> OpeningReport:
    opens_at = epoch(record.view["salesOpenAt"])
    assert opens_at is not None
    last_sold = None if record.last_paid is None else record.last_paid.timestamp()
    pre = [f for f in fans if f.joined_as == PRE_QUEUE]
    after = [f for f in fans if f.joined_as in (WAITING, ADMITTED)]
    seen_admitted = [f.admitted_at for f in fans if f.admitted_at is not None]
    in_line = [
        f
        for f in pre + after
        if last_sold is not None
        and f.joined_at is not None
        and f.joined_at <= last_sold
        and (f.admitted_at is None or f.admitted_at > last_sold)
    ]
    # Everyone who joined after the opening is behind every pre-queue fan, but a
    # pre-queue fan the line admitted only hears of it at their next poll.
    heard = [_first_told(f) for f in pre if f.user_id in record.admitted]
    last_heard = max((t for t in heard if t is not None), default=float("-inf"))
    overtaking = sum(1 for f in after if f.admitted_at is not None and f.admitted_at < last_heard)
    admissions = list(record.admitted.values())
    return OpeningReport(
        started_at=started_at,
        opens_at=opens_at,
        pre_queue=len(pre),
        entrants=(record.view["draw"] or {}).get("entrants"),
        first_admission=min(admissions) - opens_at if admissions else None,
        first_admitted_seen=min(seen_admitted) - opens_at if seen_admitted else None,
        waits_pre_queue=_waits(pre, since=None),
        waits_pre_queue_from_opening=_waits(pre, since=opens_at),
        waits_after_opening=_waits(after, since=None),
        told_late_pre_queue=_told_late(pre, record.admitted),
        told_late_after_opening=_told_late(after, record.admitted),
        overtaking=overtaking,
        joined_after_opening=len(after),
        last_sold_at=last_sold,
        line_closed_at=epoch(record.view["soldOutAt"]),
        admitted_after_last_sale=sum(1 for t in admissions if last_sold and t > last_sold),
        in_line_at_sell_out=len(in_line),
        learned_after_sell_out=[
            f.learned_at - last_sold
            for f in in_line
            if f.learned_at is not None and last_sold is not None
        ],
        learned_by=Counter(f.learned_by for f in fans if f.learned_by is not None),
        problems=[],
    )


def _first_told(fan: FanLog) -> float | None:
    """When a fan the line admitted first heard how it went: admitted, or nothing left."""
    return fan.admitted_at if fan.admitted_at is not None else fan.learned_at


def _told_late(fans: list[FanLog], admitted: dict[int, float]) -> list[float]:
    return [
        f.admitted_at - admitted[f.user_id]
        for f in fans
        if f.admitted_at is not None and f.user_id in admitted
    ]


async def _line_view(server: BenchServer, concert_id: int, *, closed: bool) -> Any:
    """The operator's view of the line; when every seat is sold, once it says closed
    (it closes within about a second), or as it is after ``CLOSE_WITHIN_SECONDS``."""
    deadline = time.monotonic() + CLOSE_WITHIN_SECONDS
    async with httpx.AsyncClient(base_url=server.url, headers=ADMIN, timeout=60) as client:
        while True:
            r = await client.get(f"/api/v1/admin/concerts/{concert_id}/waiting-room")
            r.raise_for_status()
            view = r.json()
            if not closed or view["soldOutAt"] is not None or time.monotonic() > deadline:
                return view
            await asyncio.sleep(0.1)


def _waits(fans: list[FanLog], *, since: float | None) -> list[float]:
    return [
        f.admitted_at - (f.joined_at if since is None else since)
        for f in fans
        if f.admitted_at is not None and f.joined_at is not None
    ]


def _draw_problems(entrants: int | None, listed: str | None, pre_queue: set[int]) -> list[str]:
    """The draw lost nobody: it recorded every fan told PRE_QUEUE, and nobody else."""
    if not pre_queue:
        return []
    if entrants is None or listed is None:
        return [f"{len(pre_queue)} fans joined before the opening but no draw was recorded"]
    drawn = set(parse_order(listed))
    problems = []
    if entrants != len(pre_queue):
        problems.append(
            f"the draw recorded {entrants} entrants; {len(pre_queue)} fans joined before it"
        )
    if pre_queue - drawn:
        problems.append(f"{len(pre_queue - drawn)} pre-queue fans missing from the draw")
    if drawn - pre_queue:
        problems.append(f"{len(drawn - pre_queue)} fans in the draw who joined after it")
    return problems
