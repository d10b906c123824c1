"""Balance reads: those arriving in the same turn of the event loop share one
statement, and each fan is answered their own balance, read after they asked."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from boxoffice.errors import UserNotFound
from boxoffice.storage.db import Database
from boxoffice.storage.query import Conn
from boxoffice.wallet import repository
from boxoffice.wallet.service import BalanceReads
from tests.service.factories import (
    SentStatements,
    assert_consistent,
    audit_baseline,
    charge,
    database_url,
    make_fan,
)

__all__ = ["audit_baseline", "database_url"]


async def test_reads_at_once_each_answer_their_own_fan(db: Database) -> None:
    fans = [await make_fan(db, balance=100 * (n + 1)) for n in range(12)]
    reads = BalanceReads(db)
    balances = await asyncio.gather(*(reads.of(fan) for fan in fans), reads.of(fans[0]))
    assert balances == [100 * (n + 1) for n in range(12)] + [100]
    await reads.close()
    await assert_consistent(db)


async def test_a_fan_without_a_wallet_fails_alone(db: Database) -> None:
    fans = [await make_fan(db, balance=300) for _ in range(3)]
    reads = BalanceReads(db)
    answers = await asyncio.gather(
        reads.of(fans[0]), reads.of(-1), reads.of(fans[1]), return_exceptions=True
    )
    assert answers[0] == 300 and answers[2] == 300
    assert isinstance(answers[1], UserNotFound)
    await reads.close()


async def test_on_postgres_reads_at_once_are_one_statement(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = Database(postgres_url)
    fans = [await make_fan(db, balance=200) for _ in range(8)]
    reads = BalanceReads(db)
    # asyncpg learns the array type on a connection's first use of it.
    assert await reads.of(fans[0]) == 200
    sent = SentStatements(monkeypatch)
    assert await asyncio.gather(*(reads.of(fan) for fan in fans)) == [200] * 8
    [statement] = sent.statements
    assert "FROM wallets" in statement and sent.transactions == 0
    # The next turn's reads are a statement of their own.
    assert await reads.of(fans[0]) == 200
    assert len(sent.statements) == 2
    await reads.close()
    await db.dispose()


async def test_a_read_asked_for_after_a_charge_sees_it_though_a_batch_was_out(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch already on its way to the database takes no later request: the fan
    who charged and then asked is answered by a read that started after the charge."""
    first, second = await make_fan(db, balance=100), await make_fan(db, balance=100)
    out = asyncio.Event()
    let_go = asyncio.Event()
    read_balances = repository.balances

    async def held_balances(conn: Conn, *, user_ids: Sequence[int]) -> dict[int, int]:
        if first in user_ids:
            out.set()
            await let_go.wait()
        return await read_balances(conn, user_ids=user_ids)

    monkeypatch.setattr(repository, "balances", held_balances)
    reads = BalanceReads(db)
    earlier = asyncio.create_task(reads.of(first))
    await out.wait()
    await charge(db, user_id=second, amount=50)
    assert await reads.of(second) == 150
    let_go.set()
    assert await earlier == 100
    await reads.close()
