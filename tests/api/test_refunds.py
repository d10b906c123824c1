"""Refunds: a paid ticket handed back before the cutoff gives the price back once and
puts the seat on sale again; the operator refunds any ticket, or a whole cancelled show."""

from __future__ import annotations

from collections.abc import Callable

from boxoffice.config import Settings
from boxoffice.storage import audit
from boxoffice.storage.db import Database
from tests.support import Api, FakeClock, running_api


async def _ledger(api: Api, fan: object) -> list[tuple[str, int]]:
    r = await api.client.get("/api/v1/wallet/transactions", headers=fan.access)  # type: ignore[attr-defined]
    return [(e["type"], e["amount"]) for e in r.json()["items"]]


async def test_a_refund_gives_the_price_back_once_and_the_seat_is_on_sale_again(
    api: Api, db: Database
) -> None:
    fan, show, rid = await api.bought(price=7_000)
    r = await api.refund(fan, rid)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {
        "reservationId",
        "userId",
        "amount",
        "status",
        "refundedAt",
        "balance",
        "transactionId",
    }
    assert (body["status"], body["amount"], body["balance"]) == ("REFUNDED", 7_000, 7_000)
    assert await api.balance(fan) == 7_000
    assert (await _ledger(api, fan))[:2] == [("REFUND", 7_000), ("PAYMENT", -7_000)]
    mine = await api.client.get(f"/api/v1/reservations/{rid}", headers=fan.access)
    assert mine.json()["status"] == "REFUNDED"
    other = await api.admitted_fan(balance=7_000, name="next")
    seat = [s for s in (await api.seats(other, show)).json()["seats"] if s["seatNumber"] == 1]
    assert seat[0]["status"] == "AVAILABLE"
    again = (await api.hold(other, show, seat_number=1)).json()["reservationId"]
    assert (await api.pay(other, again)).status_code == 201
    assert await audit.audit(db) == []


async def test_a_retry_with_the_same_key_is_answered_the_same_and_refunds_once(api: Api) -> None:
    fan, _, rid = await api.bought(price=3_000)
    first = await api.refund(fan, rid, key="refund-1")
    again = await api.refund(fan, rid, key="refund-1")
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert await api.balance(fan) == 3_000
    r = await api.refund(fan, rid)
    assert (r.status_code, r.json()["code"]) == (409, "already_refunded")
    assert await api.balance(fan) == 3_000


async def test_a_key_used_for_another_refund_is_refused(api: Api) -> None:
    show = await api.make_show(price=1_000)
    fan = await api.admitted_fan(balance=2_000)
    first, second = [
        (await api.hold(fan, show, seat_number=n)).json()["reservationId"] for n in (1, 2)
    ]
    for rid in (first, second):
        assert (await api.pay(fan, rid)).status_code == 201
    assert (await api.refund(fan, first, key="k")).status_code == 200
    r = await api.refund(fan, second, key="k")
    assert (r.status_code, r.json()["code"]) == (422, "idempotency_key_reused")
    assert await api.balance(fan) == 1_000


async def test_only_a_paid_ticket_of_ones_own_can_be_refunded(api: Api) -> None:
    show = await api.make_show()
    fan = await api.admitted_fan(balance=10_000)
    held = (await api.hold(fan, show, seat_number=1)).json()["reservationId"]
    r = await api.refund(fan, held)
    assert (r.status_code, r.json()["code"]) == (409, "not_paid")
    _, _, theirs = await api.bought(show=show, seat=2, name="other")
    r = await api.refund(fan, theirs)
    assert (r.status_code, r.json()["code"]) == (404, "reservation_not_found")
    r = await api.client.post(f"/api/v1/reservations/{theirs}/refund")
    assert r.status_code == 401


async def test_refunds_close_at_the_cutoff_but_not_for_the_operator(
    make_settings: Callable[..., Settings], clock: FakeClock
) -> None:
    async with running_api(make_settings(refund_cutoff_hours=24), clock) as api:
        show = await api.make_show(price=2_000, in_days=2)
        fan, _, rid = await api.bought(show=show)
        clock.advance(23 * 3600)  # 25 h before the show: still open
        _, _, second = await api.bought(show=show, seat=2, name="late")
        await api.renew(fan)  # the fan comes back a day later, signed in still
        assert (await api.refund(fan, rid)).status_code == 200
        clock.advance(2 * 3600)  # 23 h before: closed
        r = await api.client.post(f"/api/v1/admin/reservations/{second}/refund", headers=api.admin)
        assert r.status_code == 200  # the operator's refund has no cutoff
        fan2, _, third = await api.bought(show=show, seat=3, name="after")
        r = await api.refund(fan2, third)
        assert (r.status_code, r.json()["code"]) == (409, "refund_closed")
        assert await api.balance(fan2) == 0
        await api.renew(fan)
        r = await api.refund(fan, rid)  # refunded before the cutoff: that is the answer
        assert (r.status_code, r.json()["code"]) == (409, "already_refunded")


async def test_a_refund_is_not_held_back_by_the_balance_ceiling(
    make_settings: Callable[..., Settings], clock: FakeClock
) -> None:
    async with running_api(make_settings(max_balance=10_000, max_charge=10_000), clock) as api:
        fan, _, rid = await api.bought(price=10_000)
        assert (await api.charge(fan, 10_000)).status_code == 200  # at the ceiling again
        r = await api.refund(fan, rid)
        assert (r.status_code, r.json()["balance"]) == (200, 20_000)


async def test_cancelling_a_show_refunds_every_ticket_once_however_often_it_is_asked(
    api: Api, db: Database
) -> None:
    show = await api.make_show(seats=5, price=4_000)
    buyers = [await api.bought(show=show, seat=n, name=f"b{n}") for n in (1, 2, 3)]
    holder = await api.admitted_fan(balance=4_000, name="holder")
    held = (await api.hold(holder, show, seat_number=4)).json()["reservationId"]
    path = f"/api/v1/admin/schedules/{show.schedule_id}/cancel"
    first = await api.client.post(path, headers=api.admin)
    assert first.status_code == 200, first.text
    assert first.json()["refunded"] == first.json()["refundedNow"] == 3
    assert first.json()["refundedAmount"] == 12_000
    again = await api.client.post(path, headers=api.admin)
    assert again.json()["refundedNow"] == 0
    assert {k: v for k, v in again.json().items() if k != "refundedNow"} == {
        k: v for k, v in first.json().items() if k != "refundedNow"
    }
    for fan, _, _ in buyers:
        assert await api.balance(fan) == 4_000
    r = await api.pay(holder, held)
    assert (r.status_code, r.json()["code"]) == (409, "hold_expired")
    r = await api.hold(holder, show, seat_number=5)
    assert (r.status_code, r.json()["code"]) == (404, "schedule_not_found")
    listing = await api.client.get(
        f"/api/v1/concerts/{show.concert_id}/schedules", headers=holder.queue
    )
    assert listing.json()["schedules"] == []
    assert await audit.audit(db) == []
    r = await api.client.post("/api/v1/admin/schedules/999999/cancel", headers=api.admin)
    assert (r.status_code, r.json()["code"]) == (404, "schedule_not_found")
    assert (await api.client.post(path)).status_code == 401
