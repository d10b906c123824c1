"""Wallet: charges, the ceiling, the ledger and idempotent retries."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from boxoffice.app import create_app
from boxoffice.config import Settings
from tests.support import Api, FakeClock, serve


async def test_registration_returns_an_access_token_that_opens_the_wallet(api: Api) -> None:
    r = await api.client.post("/api/v1/users", json={"name": "  Jisoo  "})
    assert r.status_code == 201
    body = r.json()
    assert set(body) == {
        "userId",
        "name",
        "email",
        "accessToken",
        "accessExpiresAt",
        "refreshToken",
    }
    assert body["name"] == "Jisoo"
    assert body["email"] is None  # a guest
    wallet = await api.client.get(
        "/api/v1/wallet", headers={"Authorization": f"Bearer {body['accessToken']}"}
    )
    assert wallet.json() == {"userId": body["userId"], "balance": 0}


async def test_a_charge_adds_points_and_a_ledger_entry(api: Api) -> None:
    fan = await api.register()
    r = await api.charge(fan, 25_000)
    assert r.status_code == 200
    body = r.json()
    assert body["userId"] == fan.user_id
    assert body["balance"] == 25_000
    assert body["charged"] == 25_000
    ledger = (await api.client.get("/api/v1/wallet/transactions", headers=fan.access)).json()
    [entry] = ledger["items"]
    assert entry["transactionId"] == body["transactionId"]
    assert entry["type"] == "CHARGE"
    assert entry["balanceAfter"] == 25_000
    assert entry["createdAt"].endswith("Z")


@pytest.mark.parametrize("amount", [0, -5, 1_000_001, 10**40, "100", 12.5, None, True])
async def test_a_charge_outside_one_to_max_charge_is_refused_and_changes_nothing(
    api: Api, amount: object
) -> None:
    fan = await api.register()
    r = await api.client.post("/api/v1/wallet/charges", json={"amount": amount}, headers=fan.access)
    assert r.status_code == 422
    assert r.json()["code"] == "validation_error"
    assert await api.balance(fan) == 0


async def test_a_charge_past_the_balance_ceiling_is_refused(
    make_settings: Callable[..., Settings], clock: FakeClock
) -> None:
    settings = make_settings(max_charge=600, max_balance=1_000)
    async with serve(create_app(settings, clock=clock)) as client:
        api = Api(client, clock)
        fan = await api.register()
        assert (await api.charge(fan, 600)).status_code == 200
        r = await api.charge(fan, 401)
        assert r.status_code == 409
        assert r.json()["code"] == "balance_limit_exceeded"
        assert (await api.charge(fan, 400)).json()["balance"] == 1_000
        assert await api.balance(fan) == 1_000


async def test_a_retried_charge_is_applied_once_and_answers_the_same(api: Api) -> None:
    fan = await api.register()
    first = await api.charge(fan, 5_000, key="charge-abc")
    again = await api.charge(fan, 5_000, key="charge-abc")
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert await api.balance(fan) == 5_000


async def test_the_same_key_with_a_different_body_is_refused(api: Api) -> None:
    fan = await api.register()
    assert (await api.charge(fan, 5_000, key="k1")).status_code == 200
    r = await api.charge(fan, 6_000, key="k1")
    assert r.status_code == 422
    assert r.json()["code"] == "idempotency_key_reused"
    assert await api.balance(fan) == 5_000


async def test_idempotency_keys_belong_to_one_user(api: Api) -> None:
    a, b = await api.register("a"), await api.register("b")
    assert (await api.charge(a, 1_000, key="shared")).status_code == 200
    r = await api.charge(b, 2_000, key="shared")
    assert r.status_code == 200
    assert r.json()["userId"] == b.user_id
    assert await api.balance(b) == 2_000


@pytest.mark.parametrize("key", ["", "x" * 256, "has space", "tab\tkey"])
async def test_a_malformed_idempotency_key_is_refused(api: Api, key: str) -> None:
    fan = await api.register()
    r = await api.client.post(
        "/api/v1/wallet/charges",
        json={"amount": 10},
        headers={**fan.access, "Idempotency-Key": key},
    )
    assert r.status_code == 422
    assert await api.balance(fan) == 0


async def test_a_refused_charge_does_not_burn_its_key(
    make_settings: Callable[..., Settings], clock: FakeClock
) -> None:
    async with serve(create_app(make_settings(max_balance=100), clock=clock)) as client:
        api = Api(client, clock)
        fan = await api.register()
        assert (await api.charge(fan, 80)).status_code == 200
        assert (await api.charge(fan, 50, key="k")).status_code == 409
        # Nothing was applied or remembered, so the key is free for another request.
        r = await api.charge(fan, 20, key="k")
        assert r.status_code == 200
        assert r.json()["balance"] == 100
