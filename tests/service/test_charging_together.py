"""Charges of the same moment on PostgreSQL: distinct fans' charges are one statement,
each under its own guards, and each fan is answered as if their charge had run alone."""

from __future__ import annotations

import asyncio

import pytest

from boxoffice.errors import BalanceLimitExceeded, UserNotFound
from boxoffice.idempotency.service import Outcome
from boxoffice.storage.db import Database
from boxoffice.wallet import repository
from boxoffice.wallet import service as wallet
from boxoffice.wallet.model import ChargeResult
from boxoffice.wallet.writers import ChargesInOneStatement
from tests.service.factories import (
    NOW,
    SentStatements,
    assert_consistent,
    balance_of,
    ledger,
    make_fan,
)

CEILING = 10_000


async def _charge(
    db: Database, together: ChargesInOneStatement, fan: int, amount: int, key: str | None = None
) -> Outcome[ChargeResult]:
    return await wallet.charge(
        db=db,
        charges=together,
        user_id=fan,
        amount=amount,
        max_charge=5_000,
        max_balance=CEILING,
        idempotency_key=key,
        now=NOW,
    )


async def _warm(db: Database, together: ChargesInOneStatement) -> None:
    """asyncpg learns the statement's array types on a connection's first use of it."""
    a, b = await make_fan(db), await make_fan(db)
    await asyncio.gather(_charge(db, together, a, 1), _charge(db, together, b, 1))


async def test_distinct_fans_charging_at_once_are_one_statement_each_answered_alone(
    pg: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    together = ChargesInOneStatement(pg)
    await _warm(pg, together)
    fans = [await make_fan(pg) for _ in range(6)]
    sent = SentStatements(monkeypatch)
    outcomes = await asyncio.gather(
        *(_charge(pg, together, fan, 100 * (n + 1), key=f"k{n}") for n, fan in enumerate(fans))
    )
    [statement] = sent.statements
    assert "UPDATE wallets" in statement and "INSERT INTO idempotency_keys" in statement
    assert sent.transactions == 0
    for n, (fan, outcome) in enumerate(zip(fans, outcomes, strict=True)):
        assert not outcome.replayed
        assert (outcome.value.user_id, outcome.value.balance) == (fan, 100 * (n + 1))
        assert await ledger(pg, user_id=fan) == [("CHARGE", 100 * (n + 1))]
    # Each key remembered its own answer: a retry replays it and charges nothing.
    again = await _charge(pg, together, fans[2], 300, key="k2")
    assert again.replayed and again.value == outcomes[2].value
    assert await balance_of(pg, user_id=fans[2]) == 300
    await together.close()
    await assert_consistent(pg)


async def test_a_fans_charges_of_one_moment_are_all_applied(pg: Database) -> None:
    together = ChargesInOneStatement(pg)
    fan, other = await make_fan(pg), await make_fan(pg)
    outcomes = await asyncio.gather(
        *(_charge(pg, together, fan, 10) for _ in range(5)), _charge(pg, together, other, 7)
    )
    assert sorted(o.value.balance for o in outcomes[:5]) == [10, 20, 30, 40, 50]
    assert len({o.value.transaction_id for o in outcomes}) == 6
    assert await balance_of(pg, user_id=fan) == 50
    assert await balance_of(pg, user_id=other) == 7
    await together.close()
    await assert_consistent(pg)


async def test_control_one_statement_given_a_fan_twice_credits_them_once(pg: Database) -> None:
    """Why a fan's second charge of a moment runs apart: a row is updated once per
    statement, so the statement would answer one charge and silently drop the other."""
    fan = await make_fan(pg)
    twice = [repository.Charging(fan, 10, CEILING, NOW, None)] * 2
    async with pg.statement() as conn:
        charged = await repository.charge_each(conn, twice)
    assert charged == {fan: (10, charged[fan][1])}
    assert await balance_of(pg, user_id=fan) == 10


async def test_refusals_in_a_shared_statement_are_each_fans_own(pg: Database) -> None:
    together = ChargesInOneStatement(pg)
    full, fine = await make_fan(pg), await make_fan(pg)
    await _charge(pg, together, full, 5_000)
    await _charge(pg, together, full, 4_500)
    answers = await asyncio.gather(
        _charge(pg, together, full, 600),
        _charge(pg, together, fine, 600),
        _charge(pg, together, 10**9, 600),
        return_exceptions=True,
    )
    assert isinstance(answers[0], BalanceLimitExceeded)
    assert isinstance(answers[1], Outcome) and answers[1].value.balance == 600
    assert isinstance(answers[2], UserNotFound)
    assert await balance_of(pg, user_id=full) == 9_500
    await together.close()
    await assert_consistent(pg)


async def test_a_retry_in_a_shared_statement_replays_and_the_others_are_charged(
    pg: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A key already remembered fails the shared statement whole; each charge then runs
    alone: the retry replays its first answer, the others are charged once."""
    together = ChargesInOneStatement(pg)
    await _warm(pg, together)
    retrying, a, b = await make_fan(pg), await make_fan(pg), await make_fan(pg)
    first = await _charge(pg, together, retrying, 250, key="same")
    sent = SentStatements(monkeypatch)
    answers = await asyncio.gather(
        _charge(pg, together, retrying, 250, key="same"),
        _charge(pg, together, a, 100, key="a"),
        _charge(pg, together, b, 200),
    )
    assert answers[0].replayed and answers[0].value == first.value
    assert [x.value.balance for x in answers[1:]] == [100, 200]
    assert not any(x.replayed for x in answers[1:])
    assert len(sent.statements) >= 4  # the shared one, then each alone (and the replay)
    for fan, amount in ((retrying, 250), (a, 100), (b, 200)):
        assert await ledger(pg, user_id=fan) == [("CHARGE", amount)]
    await together.close()
    await assert_consistent(pg)


async def test_first_attempts_racing_on_one_key_in_one_moment_charge_once(pg: Database) -> None:
    together = ChargesInOneStatement(pg)
    fan, other = await make_fan(pg), await make_fan(pg)
    answers = await asyncio.gather(
        *(_charge(pg, together, fan, 250, key="same") for _ in range(6)),
        _charge(pg, together, other, 1, key="same"),
    )
    assert len({a.value for a in answers[:6]}) == 1
    assert sum(not a.replayed for a in answers[:6]) == 1
    assert await ledger(pg, user_id=fan) == [("CHARGE", 250)]
    assert await ledger(pg, user_id=other) == [("CHARGE", 1)]
    await together.close()
    await assert_consistent(pg)
