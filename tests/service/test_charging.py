"""Charging points: from one point to ``max_charge``, never past the balance ceiling,
each charge one ledger entry so the ledger always sums to the balance, and a retry
with the same Idempotency-Key applied once."""

from __future__ import annotations

import pytest

from boxoffice.errors import (
    BalanceLimitExceeded,
    IdempotencyKeyReused,
    UserNotFound,
    ValidationFailed,
)
from boxoffice.idempotency.service import Outcome
from boxoffice.storage.db import Database
from boxoffice.wallet import service as wallet
from boxoffice.wallet.model import ChargeResult, EntryType
from boxoffice.wallet.writers import charges_for
from tests.service.factories import (
    NOW,
    assert_consistent,
    audit_baseline,
    balance_of,
    database_url,
    ledger,
    make_fan,
)

__all__ = ["audit_baseline", "database_url"]

MAX_CHARGE = 600
MAX_BALANCE = 1_000


async def _charge(
    db: Database, user_id: int, amount: int, *, key: str | None = None
) -> Outcome[ChargeResult]:
    return await wallet.charge(
        db=db,
        charges=charges_for(db),
        user_id=user_id,
        amount=amount,
        max_charge=MAX_CHARGE,
        max_balance=MAX_BALANCE,
        idempotency_key=key,
        now=NOW,
    )


async def test_a_charge_adds_its_amount_and_one_ledger_entry(db: Database) -> None:
    fan = await make_fan(db)
    outcome = await _charge(db, fan, 250)
    assert not outcome.replayed
    charged = outcome.value
    assert (charged.user_id, charged.balance, charged.charged) == (fan, 250, 250)
    [entry] = await wallet.history(db=db, user_id=fan, limit=10)
    assert (entry.transaction_id, entry.type, entry.amount, entry.balance_after) == (
        charged.transaction_id,
        EntryType.CHARGE,
        250,
        250,
    )
    assert entry.created_at == NOW
    assert await balance_of(db, user_id=fan) == 250
    await assert_consistent(db)


async def test_one_point_and_exactly_max_charge_are_taken(db: Database) -> None:
    fan = await make_fan(db)
    assert (await _charge(db, fan, 1)).value.balance == 1
    assert (await _charge(db, fan, MAX_CHARGE)).value.balance == 1 + MAX_CHARGE
    await assert_consistent(db)


@pytest.mark.parametrize("amount", [0, -1, MAX_CHARGE + 1])
async def test_a_charge_outside_one_to_max_charge_is_refused_and_changes_nothing(
    db: Database, amount: int
) -> None:
    fan = await make_fan(db)
    with pytest.raises(ValidationFailed):
        await _charge(db, fan, amount, key="bad")
    assert await balance_of(db, user_id=fan) == 0
    assert await ledger(db, user_id=fan) == []
    # Nothing was remembered under the key either.
    assert not (await _charge(db, fan, 5, key="bad")).replayed
    await assert_consistent(db)


async def test_a_charge_may_reach_the_ceiling_exactly_and_not_one_point_past(
    db: Database,
) -> None:
    fan = await make_fan(db)
    await _charge(db, fan, 600)
    with pytest.raises(BalanceLimitExceeded):
        await _charge(db, fan, 401)
    assert await balance_of(db, user_id=fan) == 600
    assert (await _charge(db, fan, 400)).value.balance == MAX_BALANCE
    with pytest.raises(BalanceLimitExceeded):
        await _charge(db, fan, 1)
    assert await balance_of(db, user_id=fan) == MAX_BALANCE
    assert await ledger(db, user_id=fan) == [("CHARGE", 400), ("CHARGE", 600)]
    await assert_consistent(db)


async def test_the_ledger_sums_to_the_balance_after_every_charge(db: Database) -> None:
    fan = await make_fan(db)
    for amount in (1, 99, 300, 17):
        balance = (await _charge(db, fan, amount)).value.balance
        entries = await wallet.history(db=db, user_id=fan, limit=10)
        assert sum(entry.amount for entry in entries) == balance
        assert entries[0].balance_after == balance
        assert await balance_of(db, user_id=fan) == balance
    await assert_consistent(db)


async def test_a_retried_charge_is_applied_once_and_answers_the_same(db: Database) -> None:
    fan = await make_fan(db)
    first = await _charge(db, fan, 500, key="charge-abc")
    again = await _charge(db, fan, 500, key="charge-abc")
    assert (first.replayed, again.replayed) == (False, True)
    assert again.value == first.value
    assert again.status_code == first.status_code == 200
    assert await balance_of(db, user_id=fan) == 500
    assert await ledger(db, user_id=fan) == [("CHARGE", 500)]
    await assert_consistent(db)


async def test_a_key_reused_with_another_amount_is_refused_and_changes_nothing(
    db: Database,
) -> None:
    fan = await make_fan(db)
    await _charge(db, fan, 500, key="k1")
    with pytest.raises(IdempotencyKeyReused):
        await _charge(db, fan, 501, key="k1")
    assert await balance_of(db, user_id=fan) == 500
    await assert_consistent(db)


async def test_idempotency_keys_belong_to_one_user(db: Database) -> None:
    a, b = await make_fan(db), await make_fan(db)
    await _charge(db, a, 100, key="shared")
    theirs = await _charge(db, b, 200, key="shared")
    assert (theirs.replayed, theirs.value.user_id, theirs.value.balance) == (False, b, 200)
    assert await balance_of(db, user_id=a) == 100
    await assert_consistent(db)


async def test_a_charge_refused_at_the_ceiling_does_not_burn_its_key(db: Database) -> None:
    fan = await make_fan(db)
    await _charge(db, fan, 600)
    await _charge(db, fan, 200)
    with pytest.raises(BalanceLimitExceeded):
        await _charge(db, fan, 300, key="k")
    outcome = await _charge(db, fan, 200, key="k")
    assert (outcome.replayed, outcome.value.balance) == (False, MAX_BALANCE)
    await assert_consistent(db)


async def test_a_user_that_does_not_exist_cannot_be_charged(db: Database) -> None:
    with pytest.raises(UserNotFound):
        await _charge(db, 10**9, 100)
    with pytest.raises(UserNotFound):
        await balance_of(db, user_id=10**9)
    await assert_consistent(db)
