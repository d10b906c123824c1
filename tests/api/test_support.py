"""The support desk's view of one fan, and a fan's own list of reservations: what a
desk needs when a fan writes in, and what a fan signed in on a new device sees."""

from __future__ import annotations

from typing import Any

import httpx

from boxoffice.http.schemas import utc_text
from tests.support import Api, Fan

HOLD_SECONDS = 300  # the default BOXOFFICE_HOLD_SECONDS
PASSWORD = "correct horse battery"


async def _fan(api: Api, **query: str | int) -> httpx.Response:
    return await api.client.get("/api/v1/admin/fans", params=query, headers=api.admin)


async def _save_account(api: Api, fan: Fan, email: str, name: str = "buyer") -> None:
    r = await api.client.post(
        "/api/v1/accounts",
        json={"email": email, "password": PASSWORD, "name": name},
        headers=fan.access,
    )
    assert r.status_code == 201, r.text
    assert r.json()["userId"] == fan.user_id


async def test_the_desk_finds_an_account_by_email_with_its_tickets_payments_and_ledger(
    api: Api,
) -> None:
    fan, show, rid = await api.bought(price=7_000, seat=3)
    email = f"mina.{id(api)}@example.com"
    await _save_account(api, fan, email)

    r = await _fan(api, email=f" {email.upper()} ")
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    assert {k: body[k] for k in ("userId", "name", "email", "kind", "balance")} == {
        "userId": fan.user_id,
        "name": "buyer",
        "email": email,
        "kind": "account",
        "balance": 0,
    }
    [reservation] = body["reservations"]
    assert reservation["reservationId"] == rid
    assert reservation["scheduleId"] == show.schedule_id
    assert (reservation["seatNumber"], reservation["price"], reservation["status"]) == (
        3,
        7_000,
        "CONFIRMED",
    )
    assert reservation["concertTitle"] == "Show"
    [payment] = body["payments"]
    assert (payment["reservationId"], payment["amount"]) == (rid, 7_000)
    assert [(e["type"], e["amount"], e["balanceAfter"]) for e in body["ledger"]] == [
        ("PAYMENT", -7_000, 0),
        ("CHARGE", 7_000, 7_000),
    ]


async def test_a_guest_is_found_by_user_id_and_a_lapsed_hold_reads_expired(api: Api) -> None:
    show = await api.make_show(seats=5, price=1_000)
    guest = await api.admitted_fan(balance=2_000, name="walk-in")
    held = await api.hold(guest, show, seat_number=2)
    assert held.status_code == 201, held.text
    api.clock.advance(HOLD_SECONDS)  # the hold lapses at this very instant

    r = await _fan(api, userId=guest.user_id)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["kind"], body["email"], body["balance"]) == ("guest", None, 2_000)
    [reservation] = body["reservations"]
    assert reservation["status"] == "EXPIRED"
    assert reservation["heldUntil"] == held.json()["heldUntil"]
    assert body["payments"] == []
    assert body["ledger"][0]["createdAt"] <= utc_text(api.clock.now)


async def test_the_newest_come_first(api: Api) -> None:
    show = await api.make_show(seats=5, price=1_000)
    fan = await api.admitted_fan(balance=5_000)
    first = (await api.hold(fan, show, seat_number=1)).json()["reservationId"]
    second = (await api.hold(fan, show, seat_number=2)).json()["reservationId"]
    assert (await api.pay(fan, first)).status_code == 201

    body = (await _fan(api, userId=fan.user_id)).json()
    assert [r["reservationId"] for r in body["reservations"]] == [second, first]
    assert [e["type"] for e in body["ledger"]] == ["PAYMENT", "CHARGE"]


async def test_no_such_fan_is_not_found(api: Api) -> None:
    queries: list[dict[str, str | int]] = [{"email": "nobody@example.com"}, {"userId": 987_654}]
    for query in queries:
        r = await _fan(api, **query)
        assert (r.status_code, r.json()["code"]) == (404, "not_found"), query


async def test_exactly_one_of_email_and_user_id_is_asked_for(api: Api) -> None:
    fan = await api.register()
    queries: list[dict[str, str | int]] = [{}, {"email": "a@example.com", "userId": fan.user_id}]
    for query in queries:
        r = await _fan(api, **query)
        assert (r.status_code, r.json()["code"]) == (422, "validation_error"), query


async def test_only_the_operator_may_look_a_fan_up(api: Api) -> None:
    fan = await api.register()
    r = await api.client.get(
        "/api/v1/admin/fans", params={"userId": fan.user_id}, headers=fan.access
    )
    assert r.status_code == 401
    assert r.json()["code"] == "invalid_token"


async def test_a_fan_lists_their_own_reservations_and_nobody_elses(api: Api) -> None:
    buyer, _, rid = await api.bought()
    other = await api.register("other")

    mine = await api.client.get("/api/v1/reservations", headers=buyer.access)
    assert mine.status_code == 200, mine.text
    assert [(r["reservationId"], r["status"]) for r in mine.json()["items"]] == [(rid, "CONFIRMED")]
    theirs = await api.client.get("/api/v1/reservations", headers=other.access)
    assert theirs.json() == {"items": []}
