"""On PostgreSQL a keyed charge is one statement that remembers its own answer: no
transaction around it, and after a lost connection it runs again only when running it
twice does no harm (the retry then finds its key and replays the first answer). A
payment is one statement too, all or nothing: it checks every guard before it writes,
and rolls itself back if a row it writes changed under it meanwhile."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import pytest
from sqlalchemy import bindparam, func, insert, literal, select

from boxoffice.errors import InsufficientBalance
from boxoffice.idempotency.repository import remembered_in
from boxoffice.idempotency.service import Outcome
from boxoffice.payments import sale_statement
from boxoffice.payments.model import PaymentResult
from boxoffice.payments.repository import Sale, Selling, sale_of
from boxoffice.payments.sale_statement import SELL_EACH
from boxoffice.payments.service import _request, checkout, pay
from boxoffice.payments.writers import SalesInOneStatement
from boxoffice.queue.model import DEFAULT_LINE, QueueState, Sells
from boxoffice.queue.repository import sells_params
from boxoffice.queue.service import QueuePass
from boxoffice.reservations import hold_statement, reads
from boxoffice.reservations import repository as holds_repo
from boxoffice.reservations import service as reservations
from boxoffice.reservations.hold_statement import HoldAsk
from boxoffice.reservations.repository import Held
from boxoffice.reservations.writers import HoldsInOneStatement
from boxoffice.storage.db import Database
from boxoffice.storage.errors import Unreachable
from boxoffice.storage.query import Conn, PostgresConn, Query
from boxoffice.storage.tables import UTCDateTime, users
from boxoffice.wallet import service as wallet
from boxoffice.wallet.model import ChargeResult
from boxoffice.wallet.writers import ChargesInOneStatement
from tests.service.factories import (
    HOLD_FOR,
    NOW,
    SentStatements,
    admit,
    assert_consistent,
    balance_of,
    buy,
    hold,
    ledger,
    make_fan,
    make_show,
    waiting_room,
)
from tests.support import FakeClock


@pytest.fixture
async def pg(postgres_url: str) -> AsyncIterator[Database]:
    # A session time zone other than UTC: a remembered answer must not depend on it.
    name = postgres_url.rpartition("/")[2]
    admin = await asyncpg.connect(postgres_url.replace("+asyncpg", ""))
    try:
        await admin.execute(f"ALTER DATABASE {name} SET timezone TO 'Asia/Seoul'")
    finally:
        await admin.close()
    db = Database(postgres_url)
    try:
        yield db
    finally:
        await db.dispose()


async def _keyed_charge(db: Database, user_id: int, amount: int, key: str) -> Outcome[ChargeResult]:
    """The charge as a statement of its own: the shared statement with this fan alone."""
    charges = ChargesInOneStatement(db)
    try:
        return await wallet.charge(
            db=db,
            charges=charges,
            user_id=user_id,
            amount=amount,
            max_charge=1_000,
            max_balance=10_000,
            idempotency_key=key,
            now=NOW,
        )
    finally:
        await charges.close()


async def _charge(db: Database, user_id: int, amount: int, key: str) -> ChargeResult:
    return (await _keyed_charge(db, user_id, amount, key)).value


def _ours(sent: SentStatements) -> list[str]:
    """The statements sent besides asyncpg's own first look at an array parameter's
    type, on a connection new to it."""
    return [s for s in sent.statements if "typeinfo_tree" not in s and "'jit'" not in s]


async def test_a_keyed_charge_is_one_statement_without_a_transaction(
    pg: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    fan = await make_fan(pg)
    sent = SentStatements(monkeypatch)
    charged = await _charge(pg, fan, 300, key="one")
    assert sent.transactions == 0
    [statement] = _ours(sent)
    assert "INSERT INTO idempotency_keys" in statement
    assert "UPDATE wallets" in statement
    assert "INSERT INTO wallet_transactions" in statement
    assert "unnest" in statement  # the statement fans of one moment share
    replayed = await _keyed_charge(pg, fan, 300, key="one")
    assert replayed.replayed
    assert replayed.value == charged
    assert await ledger(pg, user_id=fan) == [("CHARGE", 300)]
    await assert_consistent(pg)


async def test_first_attempts_racing_on_one_key_charge_once_and_answer_alike(
    pg: Database,
) -> None:
    fan = await make_fan(pg)
    answers = await asyncio.gather(*(_charge(pg, fan, 250, key="same") for _ in range(12)))
    assert len(set(answers)) == 1
    assert await ledger(pg, user_id=fan) == [("CHARGE", 250)]
    assert await balance_of(pg, user_id=fan) == 250
    await assert_consistent(pg)


async def test_a_keyed_payment_is_one_statement_that_remembers_its_answer(
    pg: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock(NOW)
    room = waiting_room(pg, clock)
    show = await make_show(pg, price=700)
    fan = await make_fan(pg, balance=1_000)
    held = await hold(pg, user_id=fan, show=show, seat_number=1)
    claims = await admit(room, user_id=fan, now=clock.now)
    sales = SalesInOneStatement(pg)
    sent = SentStatements(monkeypatch)

    async def pay_once() -> Outcome[PaymentResult]:
        return await checkout(
            db=pg,
            sales=sales,
            waiting_room=room,
            claims=claims,
            reservation_id=held.reservation_id,
            idempotency_key="pay-once",
            now=clock.now,
        )

    first = await pay_once()
    assert sent.transactions == 0
    [sale] = _ours(sent)  # the gate and the visit's end are the line's
    assert "INSERT INTO payments" in sale
    assert "INSERT INTO idempotency_keys" in sale
    assert "unnest" in sale  # the statement fans of one moment share
    again = await pay_once()  # after the visit ended: the remembered answer
    await sales.close()
    assert (first.replayed, again.replayed) == (False, True)
    assert again.value == first.value
    assert again.value.paid_at.utcoffset() == timedelta(0)
    assert await ledger(pg, user_id=fan) == [("PAYMENT", -700), ("CHARGE", 1_000)]
    await assert_consistent(pg)


_NAMED = Query(
    insert(users).values(name=bindparam("name"), created_at=bindparam("now")).returning(users.c.id)
)
_COUNT = Query(select(func.count()).select_from(users).where(users.c.name == bindparam("name")))


def _lost_after_committing(name: str) -> Callable[[Conn], Awaitable[None]]:
    """A write that commits, then finds its connection gone, the first time it runs."""
    runs: list[int] = []

    async def work(conn: Conn) -> None:
        await conn.fetchval(_NAMED, name=name, now=NOW)
        runs.append(1)
        if len(runs) == 1:
            raise Unreachable("connection lost", lost=True)

    return work


async def _named(db: Database, name: str) -> int:
    async with db.statement() as conn:
        return int(await conn.fetchval(_COUNT, name=name))


async def test_a_lost_statement_runs_again_only_when_running_it_twice_does_no_harm(
    pg: Database,
) -> None:
    with pytest.raises(Unreachable):
        await pg.run_statement(_lost_after_committing("once"), retry_lost=False)
    assert await _named(pg, "once") == 1  # it had committed: running it again would repeat it
    await pg.run_statement(_lost_after_committing("twice"), retry_lost=True)
    assert await _named(pg, "twice") == 2


async def test_control_a_transaction_lost_before_its_commit_is_rolled_back_and_run_again(
    pg: Database,
) -> None:
    await pg.run(_lost_after_committing("in-a-transaction"))
    assert await _named(pg, "in-a-transaction") == 1


def test_a_remembered_answer_must_name_every_field_of_the_answer_and_no_other() -> None:
    source = select(literal(1).label("x")).cte("source")
    fields: dict[str, Any] = {name: literal(0) for name in ("user_id", "balance", "charged")}
    with pytest.raises(TypeError, match="transaction_id"):
        remembered_in(source, answer=ChargeResult, fields=fields)
    with pytest.raises(TypeError, match="extra"):
        remembered_in(
            source,
            answer=ChargeResult,
            fields={**fields, "transaction_id": literal(0), "extra": literal(0)},
        )


_OPEN = Sells.of(DEFAULT_LINE, concerts_with_lines=[])

# The shared sale statement as asyncpg runs it, and the same statement without its
# all-or-nothing part: the column that rolls the statement back when a sale was begun
# (its hold confirmed) and not finished (no ledger entry) answers 0 instead.
SELL_EACH_SQL, _ = SELL_EACH.for_postgres({})
_ALL_OR_NOTHING = re.compile(
    r"CASE WHEN \(EXISTS \(.*?\)\) THEN boxoffice_run_again\(.*?\) ELSE \S+ END AS finished",
    re.DOTALL,
)
SELL_EACH_WITHOUT_ITS_ROLLBACK = _ALL_OR_NOTHING.sub("0 AS finished", SELL_EACH_SQL, count=1)


def _renumbered(sql: str, args: list[Any]) -> tuple[str, list[Any]]:
    """``sql`` with the parameters it still names numbered from $1, and their
    arguments: a parameter the text no longer names has no type PostgreSQL can infer."""
    named = sorted({int(n) for n in re.findall(r"\$(\d+)", sql)})
    number = {old: new for new, old in enumerate(named, 1)}
    return (
        re.sub(r"\$(\d+)", lambda m: f"${number[int(m.group(1))]}", sql),
        [args[old - 1] for old in named],
    )


def test_the_control_s_statement_is_the_sale_without_its_rollback_alone() -> None:
    """So that the control below runs the real statement less exactly one part."""
    assert SELL_EACH_WITHOUT_ITS_ROLLBACK != SELL_EACH_SQL
    assert "boxoffice_run_again" in SELL_EACH_SQL
    assert "boxoffice_run_again" not in SELL_EACH_WITHOUT_ITS_ROLLBACK
    assert SELL_EACH_WITHOUT_ITS_ROLLBACK.count("0 AS finished") == 1
    for part in ("UPDATE reservations", "UPDATE seats", "UPDATE wallets", "INSERT INTO payments"):
        assert part in SELL_EACH_WITHOUT_ITS_ROLLBACK


async def _sold_state(db: Database, reservation_id: int) -> tuple[str, int, int]:
    """The reservation's status, and how many sold seats and payments it has."""
    async with db.statement() as conn:
        assert isinstance(conn, PostgresConn)
        row = await conn.raw.fetchrow(
            "SELECT (SELECT status FROM reservations WHERE id = $1),"
            " (SELECT count(*) FROM seats WHERE sold_reservation_id = $1),"
            " (SELECT count(*) FROM payments WHERE reservation_id = $1)",
            reservation_id,
        )
    assert row is not None
    return (row[0], row[1], row[2])


async def _sale_racing_a_debit(
    pg: Database, postgres_url: str, sale: Callable[[int, int], Awaitable[object]]
) -> tuple[int, asyncio.Task[object]]:
    """A fan with exactly the price holds a seat; ``sale`` (user, reservation) starts
    while another transaction, not yet committed, takes half the balance. The sale
    reads its guards before that commits (the balance covers the price), then waits
    for the wallet's row; the debit commits, and the sale's own debit finds too little.
    The reservation, and the sale's task, once it has been let go on."""
    show = await make_show(pg, price=1_000)
    fan = await make_fan(pg, balance=1_000)
    held = await hold(pg, user_id=fan, show=show, seat_number=1)
    other = await asyncpg.connect(postgres_url)
    watcher = await asyncpg.connect(postgres_url)  # outside ``other``'s snapshot
    try:
        tx = other.transaction()
        await tx.start()
        await other.execute("UPDATE wallets SET balance = balance - 500 WHERE user_id = $1", fan)
        task: asyncio.Task[object] = asyncio.ensure_future(sale(fan, held.reservation_id))
        for _ in range(500):
            # The activity view keeps a statement's first kilobyte: the sale's beginning.
            if await watcher.fetchval(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                " AND left(query, 500) = left($1, 500)",
                SELL_EACH_SQL,
            ):
                break
            await asyncio.sleep(0.01)
        else:
            raise AssertionError("the sale never waited for the wallet's row")
        await tx.commit()
    finally:
        await other.close()
        await watcher.close()
    return held.reservation_id, task


def _admitted(user_id: int) -> QueuePass:
    return QueuePass(
        user_id=user_id, jti="visit", state=QueueState.ADMITTED, line=DEFAULT_LINE, gated_at=0.0
    )


async def _pay(
    db: Database, sales: SalesInOneStatement, user_id: int, reservation_id: int, sells: Sells
) -> Outcome[PaymentResult]:
    """The payment use case past the gate, sold by ``sales``."""
    outcome, _ = await pay(
        db=db,
        sales=sales,
        request=_request(user_id, reservation_id, None),
        queue_pass=_admitted(user_id),
        sells=sells,
        reservation_id=reservation_id,
        now=NOW,
    )
    return outcome


async def test_a_sale_whose_wallet_changed_under_it_writes_nothing_and_is_refused(
    pg: Database, postgres_url: str
) -> None:
    sales = SalesInOneStatement(pg)

    async def sale(user_id: int, reservation_id: int) -> object:
        return await _pay(pg, sales, user_id, reservation_id, _OPEN)

    reservation_id, task = await _sale_racing_a_debit(pg, postgres_url, sale)
    with pytest.raises(InsufficientBalance):  # the second run reads the balance left
        await task
    await sales.close()
    assert await _sold_state(pg, reservation_id) == ("HELD", 0, 0)


async def test_control_without_its_rollback_the_same_sale_is_left_half_done(
    pg: Database, postgres_url: str
) -> None:
    async def sale(user_id: int, reservation_id: int) -> object:
        sql, args = SELL_EACH.for_postgres(
            {
                "reservations": [reservation_id],
                "users": [user_id],
                "nows": [NOW],
                "keys": [None],
                "fingerprints": [None],
                "status_codes": [None],
                "paid_ats": [NOW.isoformat()],
                **sells_params(_OPEN),
            }
        )
        assert sql == SELL_EACH_SQL != SELL_EACH_WITHOUT_ITS_ROLLBACK  # the part is gone
        half_guarded, half_args = _renumbered(SELL_EACH_WITHOUT_ITS_ROLLBACK, args)
        async with pg.statement() as conn:
            assert isinstance(conn, PostgresConn)
            [row] = await conn.raw.fetch(half_guarded, *half_args)
        return sale_of(row, balance=row["balance"], payment_id=row["payment_id"])

    reservation_id, task = await _sale_racing_a_debit(pg, postgres_url, sale)
    found = await task
    assert isinstance(found, Sale)
    assert (found.covered, found.payment_id) == (True, None)
    # Confirmed and its seat sold, but never paid for: what the rollback prevents.
    assert await _sold_state(pg, reservation_id) == ("CONFIRMED", 1, 0)


# --- holds ----------------------------------------------------------------------------


async def test_a_hold_is_one_statement_without_a_transaction(
    pg: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    show = await make_show(pg)
    fan = await make_fan(pg)
    holds = HoldsInOneStatement(pg)
    await hold(pg, user_id=fan, show=show, seat_number=2, holds=holds)  # the driver's lookups
    sent = SentStatements(monkeypatch)
    held = await hold(pg, user_id=fan, show=show, seat_number=3, holds=holds)
    await holds.close()
    assert sent.transactions == 0
    [statement] = sent.statements
    assert "boxoffice_fan_live_holds" in statement
    assert "UPDATE seats" in statement
    assert "INSERT INTO reservations" in statement
    assert "unnest" in statement  # the statement fans of one moment share
    async with pg.statement() as conn:
        found = await reads.get(conn, reservation_id=held.reservation_id)
    assert found is not None and found.seat_number == 3
    await assert_consistent(pg)


FAN_LIVE_HOLDS_LOCKED = Query(
    select(func.boxoffice_fan_live_holds(bindparam("user"), bindparam("now", type_=UTCDateTime())))
)


async def test_the_holds_lock_counts_what_live_holds_of_counts(pg: Database) -> None:
    """The hold limit's count after the fan's lock (a function of the schema) is the
    twin of ``live_holds_of``: HELD and not lapsed, to the instant."""
    show = await make_show(pg)
    fan = await make_fan(pg, balance=100_000)
    for n, at in enumerate((NOW, NOW + timedelta(minutes=1), NOW + timedelta(minutes=2)), 1):
        await hold(pg, user_id=fan, show=show, seat_number=n, now=at)
    await buy(pg, user_id=fan, show=show, seat_number=4)  # CONFIRMED: not a hold
    released = await hold(pg, user_id=fan, show=show, seat_number=5)
    await reservations.release(db=pg, user_id=fan, reservation_id=released.reservation_id, now=NOW)
    for at in (NOW, NOW + HOLD_FOR, NOW + HOLD_FOR + timedelta(minutes=1, microseconds=1)):
        async with pg.statement() as conn:
            counted = await holds_repo.count_live_holds(conn, user_id=fan, now=at)
            of_the_fan = await holds_repo.fan_live_holds(conn, user_id=fan, now=at)
            locked = await conn.fetchval(FAN_LIVE_HOLDS_LOCKED, user=fan, now=at)
        assert locked == counted == of_the_fan
    assert [await _live_holds(pg, fan, at) for at in (NOW, NOW + HOLD_FOR)] == [3, 2]
    async with pg.statement() as conn:
        assert await conn.fetchval(FAN_LIVE_HOLDS_LOCKED, user=fan + 1000, now=NOW) is None
        assert await holds_repo.fan_live_holds(conn, user_id=fan + 1000, now=NOW) is None


async def _live_holds(db: Database, fan: int, at: datetime) -> int:
    async with db.statement() as conn:
        return int(await conn.fetchval(FAN_LIVE_HOLDS_LOCKED, user=fan, now=at))


# --- what a statement wrote stands ----------------------------------------------------


async def test_a_hold_the_statement_made_stands_though_the_lines_concerts_changed_since(
    pg: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A default line's concerts are read live: the concert may get a line of its own
    between the statement and the answer. The hold it made is answered as made."""
    show = await make_show(pg)
    fan = await make_fan(pg)
    not_these: set[int] = set()
    made = hold_statement.hold_each

    async def then_the_concert_gets_a_line(
        conn: Conn, asks: Sequence[HoldAsk], *, sells: Sells
    ) -> dict[int, Held]:
        found = await made(conn, asks, sells=sells)
        not_these.add(show.concert_id)
        return found

    monkeypatch.setattr(hold_statement, "hold_each", then_the_concert_gets_a_line)
    holds = HoldsInOneStatement(pg)
    held = await hold(
        pg, user_id=fan, show=show, seat_number=1, sells=Sells(None, not_these), holds=holds
    )
    await holds.close()
    assert not_these == {show.concert_id}
    assert held.seat_number == 1
    async with pg.statement() as conn:
        assert await holds_repo.count_live_holds(conn, user_id=fan, now=NOW) == 1
    await assert_consistent(pg)


async def test_a_sale_the_statement_made_stands_though_the_lines_concerts_changed_since(
    pg: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    show = await make_show(pg, price=700)
    fan = await make_fan(pg, balance=1_000)
    held = await hold(pg, user_id=fan, show=show, seat_number=1)
    not_these: set[int] = set()
    sold = sale_statement.sell_each

    async def then_the_concert_gets_a_line(
        conn: Conn, sales: Sequence[Selling], *, sells: Sells
    ) -> dict[int, Sale]:
        found = await sold(conn, sales, sells=sells)
        not_these.add(show.concert_id)
        return found

    monkeypatch.setattr(sale_statement, "sell_each", then_the_concert_gets_a_line)
    sales = SalesInOneStatement(pg)
    paid = (await _pay(pg, sales, fan, held.reservation_id, Sells(None, not_these))).value
    await sales.close()
    assert not_these == {show.concert_id}
    assert (paid.reservation_id, paid.balance) == (held.reservation_id, 300)
    assert await ledger(pg, user_id=fan) == [("PAYMENT", -700), ("CHARGE", 1_000)]
    await assert_consistent(pg)
