"""Test data for the use-case tests, made through the services the way an operator and
fans make it, and the database those tests share.

One database per module and backend, not one per test: a fresh PostgreSQL database
costs more than the use cases a test runs on it. The tests cannot meet in it, because
each makes its own show and its own fans. What they do share is the audit, so each
test is held only to the problems it adds: a bug that breaks an invariant fails the
test that met it, not every test after it.

A module uses these by importing ``database_url`` and ``audit_baseline`` (listed in its
``__all__``), which pytest then finds as that module's fixtures.
"""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from boxoffice.catalog import service as catalog
from boxoffice.catalog.model import SeatStatus
from boxoffice.payments import service as payments
from boxoffice.payments.writers import sales_for
from boxoffice.queue.challenge import Challenges, MemoryReplays
from boxoffice.queue.lines import Lines
from boxoffice.queue.memory import MemoryQueueStore
from boxoffice.queue.model import LineRules, QueueState, Sells
from boxoffice.queue.service import WaitingRoom
from boxoffice.queue.supply import SeatSupply
from boxoffice.reservations import service as reservations
from boxoffice.reservations.model import Reservation
from boxoffice.reservations.writers import HoldWriter, holds_for
from boxoffice.storage import db as db_module
from boxoffice.storage.audit import audit
from boxoffice.storage.db import Database
from boxoffice.storage.errors import StorageError, from_driver
from boxoffice.tokens import QueueClaims, TokenSigner
from boxoffice.users import service as users
from boxoffice.users.sessions import Sessions
from boxoffice.wallet import service as wallet
from boxoffice.wallet.service import BalanceReads
from boxoffice.wallet.writers import charges_for
from tests.conftest import BACKENDS, POSTGRES_URL, _admin, _with_database
from tests.support import SECRET_KEY

NOW = datetime(2030, 3, 1, 12, 0, tzinfo=UTC)
TICK = timedelta(microseconds=1)  # the smallest step both stores keep
HOLD_FOR = timedelta(minutes=5)
MAX_HOLDS = 4
MAX_CHARGE = 1_000_000
MAX_BALANCE = 10_000_000
QUEUE_TOKEN_TTL_SECONDS = 12 * 3600
# Every fan who joins is admitted at once: these tests are about what happens after.
OPEN_LINE = LineRules(
    capacity=100_000, per_minute=100_000, paused=False, waiter_timeout=60.0, admitted_idle=600.0
)
SIGNER = TokenSigner(SECRET_KEY)


@pytest.fixture(scope="module", params=BACKENDS)
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """Replaces the per-test database of tests/conftest.py for the modules that import
    it; the ``db`` fixture there then opens (and disposes) this one for each test."""
    if request.param == "embedded":
        template: Path = request.getfixturevalue("migrated_template")
        path = tmp_path_factory.mktemp("usecases") / "boxoffice.db"
        shutil.copy(template, path)
        yield f"sqlite:///{path}"
        return
    name = f"boxoffice_uc_{uuid.uuid4().hex[:12]}"
    asyncio.run(
        _admin(f"CREATE DATABASE {name} TEMPLATE {request.getfixturevalue('postgres_template')}")
    )
    yield _with_database(POSTGRES_URL, name)
    asyncio.run(_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


_problems_before: dict[str, list[str]] = {}


@pytest.fixture(autouse=True)
async def audit_baseline(db: Database) -> None:
    """What the audit already reports as this test starts."""
    _problems_before[db.url] = await audit(db)


@dataclass(frozen=True, slots=True)
class Show:
    concert_id: int
    schedule_id: int
    concert_at: datetime
    price: int
    seat_ids: tuple[int, ...]  # in seat-number order, from seat 1

    def seat_id(self, number: int) -> int:
        return self.seat_ids[number - 1]


async def make_show(
    db: Database,
    *,
    seats: int = 10,
    price: int = 10_000,
    starts_in: timedelta = timedelta(days=30),
    now: datetime = NOW,
) -> Show:
    """A concert with one schedule of ``seats`` numbered seats at ``price``."""
    concert = await catalog.add_concert(db=db, title="Show", venue="Hall")
    schedule = await catalog.add_schedule(
        db=db,
        concert_id=concert.concert_id,
        concert_at=now + starts_in,
        seat_count=seats,
        price=price,
    )
    seat_map = await catalog.seat_map(
        db=db, concert_id=concert.concert_id, schedule_id=schedule.schedule_id, only=None, now=now
    )
    return Show(
        concert_id=concert.concert_id,
        schedule_id=schedule.schedule_id,
        concert_at=schedule.concert_at,
        price=price,
        seat_ids=tuple(seat.seat_id for seat in seat_map.seats),
    )


async def make_fan(db: Database, *, balance: int = 0, now: datetime = NOW) -> int:
    """A registered fan with ``balance`` points charged; their user id."""
    fan = await users.register(db=db, sessions=sessions(db), name="fan", now=now)
    if balance:
        await charge(db, user_id=fan.user_id, amount=balance, now=now)
    return fan.user_id


async def balance_of(db: Database, *, user_id: int) -> int:
    """A fan's balance, read as the wallet route reads it."""
    return await BalanceReads(db).of(user_id)


async def charge(db: Database, *, user_id: int, amount: int, now: datetime = NOW) -> int:
    """Charge ``amount`` under the default limits; the new balance."""
    outcome = await wallet.charge(
        db=db,
        charges=charges_for(db),
        user_id=user_id,
        amount=amount,
        max_charge=MAX_CHARGE,
        max_balance=MAX_BALANCE,
        idempotency_key=None,
        now=now,
    )
    return outcome.value.balance


# What a queue token's line sells when it lets every concert through (the default line).
ANY_CONCERT = Sells(None)


async def hold(
    db: Database,
    *,
    user_id: int,
    show: Show,
    seat_number: int,
    now: datetime = NOW,
    max_holds: int = MAX_HOLDS,
    sells: Sells = ANY_CONCERT,
    holds: HoldWriter | None = None,
) -> Reservation:
    """Hold as the app would on ``db`` (or with ``holds``, to share a writer)."""
    return await reservations.hold_seat(
        holds=holds or holds_for(db),
        user_id=user_id,
        schedule_id=show.schedule_id,
        seat_id=None,
        seat_number=seat_number,
        now=now,
        hold_for=HOLD_FOR,
        max_holds=max_holds,
        sells=sells,
    )


def sessions(db: Database) -> Sessions:
    """Sessions as the app makes them (``boxoffice.app.build_context``)."""
    return Sessions(
        db=db, signer=SIGNER, access_ttl=timedelta(minutes=15), refresh_ttl=timedelta(days=30)
    )


def waiting_room(db: Database, clock: Callable[[], datetime]) -> WaitingRoom:
    """The embedded shape's waiting room, built as ``boxoffice.app.build_context``
    builds it, running on ``clock``."""
    store = MemoryQueueStore(lambda: clock().timestamp())
    lines = Lines(db=db, store=store, defaults=OPEN_LINE, clock=clock)
    supply = SeatSupply(db=db, store=store, lines=lines, clock=clock)
    return WaitingRoom(
        store=store,
        lines=lines,
        signer=SIGNER,
        db=db,
        supply=supply,
        challenges=Challenges(secret_key=SECRET_KEY, ttl_seconds=300, replays=MemoryReplays()),
        token_ttl_seconds=QUEUE_TOKEN_TTL_SECONDS,
    )


async def admit(room: WaitingRoom, *, user_id: int, now: datetime) -> QueueClaims:
    """The fan joins the line and is let in: the claims of their queue token."""
    status, _ = await room.join(user_id=user_id, now=now)
    assert status.state is QueueState.ADMITTED, status
    return SIGNER.read_queue(status.token, now=now)


async def buy(
    db: Database, *, user_id: int, show: Show, seat_number: int, now: datetime = NOW
) -> int:
    """The fan holds the seat and pays for it in one visit; the reservation id."""
    reservation = await hold(db, user_id=user_id, show=show, seat_number=seat_number, now=now)
    room = waiting_room(db, lambda: now)
    claims = await admit(room, user_id=user_id, now=now)
    await payments.checkout(
        db=db,
        sales=sales_for(db),
        waiting_room=room,
        claims=claims,
        reservation_id=reservation.reservation_id,
        idempotency_key=None,
        now=now,
    )
    return reservation.reservation_id


async def seat_status(db: Database, *, show: Show, seat_number: int, now: datetime) -> SeatStatus:
    """The seat as the seat map shows it to an admitted fan at ``now``."""
    seat_map = await catalog.seat_map(
        db=db, concert_id=show.concert_id, schedule_id=show.schedule_id, only=None, now=now
    )
    [seat] = [seat for seat in seat_map.seats if seat.seat_number == seat_number]
    return seat.status


async def ledger(db: Database, *, user_id: int) -> list[tuple[str, int]]:
    """The fan's wallet entries, newest first, as (type, signed amount)."""
    entries = await wallet.history(db=db, user_id=user_id, limit=100)
    return [(entry.type.value, entry.amount) for entry in entries]


async def assert_consistent(db: Database) -> None:
    """This test broke none of the invariants the audit checks."""
    before = _problems_before.get(db.url, [])
    problems = [problem for problem in await audit(db) if problem not in before]
    assert problems == [], problems


class Deadlocks:
    """The deadlocks PostgreSQL broke in this process's statements (each then run
    again, as a transient failure is)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0

        def counting(error: BaseException) -> StorageError | None:
            found = from_driver(error)
            if found is not None and found.sqlstate == "40P01":
                self.count += 1
            return found

        monkeypatch.setattr(db_module, "from_driver", counting)


class SentStatements:
    """What asyncpg sends: each extended-protocol statement, and each transaction."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.statements: list[str] = []
        self.transactions = 0
        do_execute = asyncpg.connection.Connection._do_execute
        start = asyncpg.transaction.Transaction.start

        async def recording_execute(conn: Any, query: str, *args: Any, **kwargs: Any) -> Any:
            self.statements.append(query)
            return await do_execute(conn, query, *args, **kwargs)

        async def recording_start(transaction: Any) -> None:
            self.transactions += 1
            await start(transaction)

        monkeypatch.setattr(asyncpg.connection.Connection, "_do_execute", recording_execute)
        monkeypatch.setattr(asyncpg.transaction.Transaction, "start", recording_start)


async def until_waiting_for_a_lock(conn: asyncpg.Connection, *, sessions: int = 1) -> None:
    """Until ``sessions`` other sessions of this database wait for a lock."""
    for _ in range(500):
        # Within a transaction the activity view is read once and kept: read it anew.
        await conn.execute("SELECT pg_stat_clear_snapshot()")
        waiting = await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        if waiting >= sessions:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"fewer than {sessions} sessions came to wait for a lock")
