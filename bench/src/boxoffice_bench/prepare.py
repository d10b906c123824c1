"""What a write measurement sends, made before its clock starts, so that every
request does distinct real work: a fan nobody has read or charged yet, a seat nobody
holds, a live hold not yet paid, each by a fan of its own.

Fans, wallets and holds are written straight to the database (the booking use case
makes about 150 holds a second on this machine: too slow to prepare thousands);
queue tokens come from the waiting room's own join on the server's Redis line. Only
what is measured goes through HTTP. Whether what was written is what boxoffice
writes is checked twice: each payment of a prepared hold must answer 201, and the
invariants are read back from storage after the run."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import httpx
from sqlalchemy import bindparam, insert, select, update

from boxoffice.clock import utcnow
from boxoffice.queue.challenge import Challenges, MemoryReplays
from boxoffice.queue.lines import Lines
from boxoffice.queue.model import LineRules, QueueState
from boxoffice.queue.redis_store import RedisQueueStore
from boxoffice.queue.service import WaitingRoom
from boxoffice.queue.supply import SeatSupply
from boxoffice.reservations.model import ReservationStatus
from boxoffice.storage.db import Database
from boxoffice.storage.tables import reservations, seats
from boxoffice.tokens import TokenSigner
from boxoffice_bench.fixtures import ADMIN, Request, make_fans
from boxoffice_bench.server import SECRET_KEY, BenchServer

T = TypeVar("T")
R = TypeVar("R")

PRICE = 10_000
CHARGE = 1_000
# A reserving fan ends with this many holds at most, what boxoffice lets a fan hold
# by default; the bench server's limit is far above, so no hold is refused for it.
HOLDS_PER_FAN = 4
MAX_HOLDS_PER_USER = 1_000
# Nobody waits in line: a whole run's admitted fans fit within capacity and pace.
ADMITTED_AT_ONCE = 10_000_000
HOLD_SECONDS = 300
SEATS_PER_SCHEDULE = 10_000  # the most a schedule may have
# Joins in flight at once: those of one turn of the event loop go to Redis as one call.
JOINS_AT_ONCE = 500

WRITES_ENV = {
    "BOXOFFICE_ADMISSION_CAPACITY": str(ADMITTED_AT_ONCE),
    "BOXOFFICE_ADMISSION_PER_MINUTE": str(ADMITTED_AT_ONCE),
    "BOXOFFICE_MAX_HOLDS_PER_USER": str(MAX_HOLDS_PER_USER),
    "BOXOFFICE_HOLD_SECONDS": str(HOLD_SECONDS),
}
# The same rules for the bench's own handle on the line (the server seeded them first).
RULES = LineRules(
    capacity=ADMITTED_AT_ONCE,
    per_minute=ADMITTED_AT_ONCE,
    paused=False,
    waiter_timeout=60,
    admitted_idle=600,
)


async def _at_most(at_once: int, work: Callable[[T], Awaitable[R]], items: Sequence[T]) -> list[R]:
    """``work`` on every item, ``at_once`` of them in flight; results in item order."""
    gate = asyncio.Semaphore(at_once)

    async def one(item: T) -> R:
        async with gate:
            return await work(item)

    return list(await asyncio.gather(*(one(item) for item in items)))


@dataclass
class SeatPool:
    """Seats nobody has held, taken once each: schedules of 10,000 seats made on the
    server through the admin API as the run needs them."""

    server: BenchServer
    db: Database
    concert_id: int | None = None
    schedules: int = 0
    free: list[tuple[int, int]] = field(default_factory=list)

    async def take(self, count: int) -> list[tuple[int, int]]:
        """``count`` (schedule id, seat id) pairs."""
        while len(self.free) < count:
            await self._add_schedule()
        taken, self.free = self.free[:count], self.free[count:]
        return taken

    async def _add_schedule(self) -> None:
        async with httpx.AsyncClient(base_url=self.server.url, headers=ADMIN, timeout=60) as c:
            if self.concert_id is None:
                answer = await c.post(
                    "/api/v1/admin/concerts", json={"title": "Writes", "venue": "Bench Hall"}
                )
                answer.raise_for_status()
                self.concert_id = int(answer.json()["concertId"])
            self.schedules += 1
            at = datetime.now(UTC) + timedelta(days=30, hours=self.schedules)
            answer = await c.post(
                f"/api/v1/admin/concerts/{self.concert_id}/schedules",
                json={"concertAt": at.isoformat(), "seatCount": SEATS_PER_SCHEDULE, "price": PRICE},
            )
            answer.raise_for_status()
        schedule_id = int(answer.json()["scheduleId"])
        async with self.db.core.connect() as conn:
            rows = await conn.execute(
                select(seats.c.id).where(seats.c.schedule_id == schedule_id).order_by(seats.c.id)
            )
            self.free += [(schedule_id, seat_id) for (seat_id,) in rows]


@dataclass
class Preparer:
    """Makes each endpoint's requests on the run's server: its database, its line."""

    server: BenchServer
    db: Database
    room: WaitingRoom
    seats: SeatPool
    run: str = field(default_factory=lambda: secrets.token_hex(4))

    @classmethod
    @asynccontextmanager
    async def open(cls, server: BenchServer) -> AsyncIterator[Preparer]:
        db = Database(server.database_url)
        store = RedisQueueStore.from_url(server.redis_url, prefix=server.prefix)
        await store.start()
        lines = Lines(db=db, store=store, defaults=RULES, clock=utcnow)
        room = WaitingRoom(
            store=store,
            lines=lines,
            signer=TokenSigner(SECRET_KEY),
            db=db,
            supply=SeatSupply(db=db, store=store, lines=lines, clock=utcnow),
            # The bench's lines ask for no proof of work: none is ever checked.
            challenges=Challenges(secret_key=SECRET_KEY, ttl_seconds=300, replays=MemoryReplays()),
            token_ttl_seconds=3600,
        )
        try:
            yield cls(server, db, room, SeatPool(server, db))
        finally:
            await store.close()
            await db.dispose()

    def requests(self, endpoint: str, count: int) -> Awaitable[list[Request]]:
        make: dict[str, Callable[[int], Awaitable[list[Request]]]] = {
            "balance": self.balance,
            "charge": self.charge,
            "reserve": self.reserve,
            "order": self.order,
            "pay": self.pay,
        }
        return make[endpoint](count)

    async def balance(self, count: int) -> list[Request]:
        fans = await make_fans(self.server.database_url, count, balance=PRICE)
        return [Request(access) for _, access in fans]

    async def charge(self, count: int) -> list[Request]:
        fans = await make_fans(self.server.database_url, count)
        body = json.dumps({"amount": CHARGE})
        return [Request(access, f"charge-{self.run}-{user}", body) for user, access in fans]

    async def reserve(self, count: int) -> list[Request]:
        fans = await make_fans(self.server.database_url, -(-count // HOLDS_PER_FAN))
        tokens = await self._admit([user for user, _ in fans])
        # Round robin: a fan's next hold comes a whole turn of fans later.
        return [
            Request(tokens[i % len(tokens)], body=json.dumps({"scheduleId": s, "seatId": seat}))
            for i, (s, seat) in enumerate(await self.seats.take(count))
        ]

    async def order(self, count: int) -> list[Request]:
        """Orders of two seats of one schedule, the fans taken round robin as holds
        are (each seat of an order counts toward the fan's holds)."""
        fans = await make_fans(self.server.database_url, -(-2 * count // HOLDS_PER_FAN))
        tokens = await self._admit([user for user, _ in fans])
        taken = await self.seats.take(2 * count + 2)
        pairs = [(a, b) for a, b in zip(taken[::2], taken[1::2], strict=True) if a[0] == b[0]]
        return [
            Request(
                tokens[i % len(tokens)],
                body=json.dumps({"scheduleId": a[0], "seatIds": [a[1], b[1]]}),
            )
            for i, (a, b) in enumerate(pairs[:count])
        ]

    async def pay(self, count: int) -> list[Request]:
        """A fan per payment, each holding one seat: every payment is the fan's last,
        so it also spends their queue token, as a real visit's payment does."""
        fans = [user for user, _ in await make_fans(self.server.database_url, count, balance=PRICE)]
        tokens = await self._admit(fans)
        holds = [
            (user, schedule_id, seat_id)
            for user, (schedule_id, seat_id) in zip(fans, await self.seats.take(count), strict=True)
        ]
        held = await self._hold(holds)
        return [
            Request(token, f"pay-{self.run}-{rid}", json.dumps({"reservationId": rid}))
            for token, rid in zip(tokens, held, strict=True)
        ]

    async def _admit(self, fans: list[int]) -> list[str]:
        now = datetime.now(UTC)

        async def join(user: int) -> str:
            status, _ = await self.room.join(user_id=user, now=now)
            if status.state is not QueueState.ADMITTED:
                raise RuntimeError(f"fan {user} was not admitted at once: {status.state}")
            return status.token

        return await _at_most(JOINS_AT_ONCE, join, fans)

    async def _hold(self, holds: list[tuple[int, int, int]]) -> list[int]:
        """(fan, schedule, seat) held as a hold leaves its rows: a HELD reservation,
        and the seat pointing at it until the same instant. Reservation ids in order."""
        now = datetime.now(UTC)
        until = now + timedelta(seconds=HOLD_SECONDS)
        async with self.db.core.begin() as conn:
            ids = await conn.scalars(
                insert(reservations).returning(reservations.c.id, sort_by_parameter_order=True),
                [
                    {
                        "user_id": user,
                        "seat_id": seat_id,
                        "price": PRICE,
                        "status": ReservationStatus.HELD.value,
                        "held_until": until,
                        "created_at": now,
                    }
                    for user, _, seat_id in holds
                ],
            )
            reservation_ids = list(ids)
            await conn.execute(
                update(seats)
                .where(seats.c.id == bindparam("seat"))
                .values(hold_reservation_id=bindparam("reservation"), held_until=until),
                [
                    {"seat": seat_id, "reservation": rid}
                    for (_, _, seat_id), rid in zip(holds, reservation_ids, strict=True)
                ],
            )
        return reservation_ids
