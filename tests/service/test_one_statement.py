"""On PostgreSQL a keyed charge is one statement that remembers its own answer: no
transaction around it, and after a lost connection it runs again only when running it
twice does no harm (the retry then finds its key and replays the first answer). A
keyed payment remembers its answer in its one sale statement, inside its transaction."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import asyncpg
import pytest
from sqlalchemy import bindparam, func, insert, literal, select

from boxoffice.db import Database
from boxoffice.idempotency.repository import remembered_in
from boxoffice.idempotency.service import Outcome
from boxoffice.payments.model import PaymentResult
from boxoffice.payments.service import checkout
from boxoffice.query import Conn, Query
from boxoffice.storage_errors import Unreachable
from boxoffice.tables import users
from boxoffice.wallet import service as wallet
from boxoffice.wallet.model import ChargeResult
from tests.service.factories import (
    NOW,
    admit,
    assert_consistent,
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


class _Statements:
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


async def _charge(db: Database, user_id: int, amount: int, key: str | None) -> ChargeResult:
    outcome = await wallet.charge(
        db=db,
        user_id=user_id,
        amount=amount,
        max_charge=1_000,
        max_balance=10_000,
        idempotency_key=key,
        now=NOW,
    )
    return outcome.value


async def test_a_keyed_charge_is_one_statement_without_a_transaction(
    pg: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    fan = await make_fan(pg)
    sent = _Statements(monkeypatch)
    charged = await _charge(pg, fan, 300, key="one")
    assert sent.transactions == 0
    [statement] = sent.statements
    assert "INSERT INTO idempotency_keys" in statement
    assert "UPDATE wallets" in statement
    assert "INSERT INTO wallet_transactions" in statement
    replayed = await wallet.charge(
        db=pg,
        user_id=fan,
        amount=300,
        max_charge=1_000,
        max_balance=10_000,
        idempotency_key="one",
        now=NOW,
    )
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
    assert await wallet.get_balance(db=pg, user_id=fan) == 250
    await assert_consistent(pg)


async def test_a_keyed_payment_remembers_its_answer_in_its_sale_statement(
    pg: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock(NOW)
    room = waiting_room(pg, clock)
    show = await make_show(pg, price=700)
    fan = await make_fan(pg, balance=1_000)
    held = await hold(pg, user_id=fan, show=show, seat_number=1)
    claims = await admit(room, user_id=fan, now=clock.now)
    sent = _Statements(monkeypatch)

    async def pay() -> Outcome[PaymentResult]:
        return await checkout(
            db=pg,
            waiting_room=room,
            claims=claims,
            reservation_id=held.reservation_id,
            idempotency_key="pay-once",
            now=clock.now,
        )

    first = await pay()
    assert sent.transactions == 1
    [sale] = [s for s in sent.statements if "INSERT INTO payments" in s]
    assert "INSERT INTO idempotency_keys" in sale
    assert not [s for s in sent.statements if s.startswith("INSERT INTO idempotency_keys")]
    again = await pay()  # after the visit ended: the remembered answer
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
