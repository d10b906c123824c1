"""A line per on-sale: a concert's own waiting room with its own pace and opening, a
pre-queue ordered by one draw at the opening, a token good for that concert only, and
a line that closes when the concert sells out."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from boxoffice.config import Settings
from boxoffice.queue.model import draw_rank
from boxoffice.storage.db import Database
from boxoffice.storage.tables import line_draws
from tests.support import Api, FakeClock, Fan, Show, eventually, running_api


async def _own_line(api: Api, show: Show, **body: Any) -> dict[str, Any]:
    r = await api.client.put(
        f"/api/v1/admin/concerts/{show.concert_id}/waiting-room", json=body, headers=api.admin
    )
    assert r.status_code == 200, r.text
    return dict(r.json())


async def _join(api: Api, fan: Fan, concert_id: int | None) -> dict[str, Any]:
    body = None if concert_id is None else {"concertId": concert_id}
    r = await api.client.post("/api/v1/queue/tokens", json=body, headers=fan.access)
    assert r.status_code in (200, 201), r.text
    fan.queue_token = r.json()["token"]
    return dict(r.json())


async def test_a_concert_gets_a_line_of_its_own_that_the_operator_can_read_back(
    api: Api,
) -> None:
    show = await api.make_show()
    path = f"/api/v1/admin/concerts/{show.concert_id}/waiting-room"
    r = await api.client.get(path, headers=api.admin)
    assert (r.status_code, r.json()["code"]) == (404, "not_found")
    made = await _own_line(api, show, capacity=7, admissionPerMinute=70)
    assert (made["concertId"], made["capacity"], made["admissionPerMinute"]) == (
        show.concert_id,
        7,
        70,
    )
    assert made["salesOpenAt"] is None and made["draw"] is None
    r = await api.client.patch(path, json={"paused": True}, headers=api.admin)
    assert (r.json()["paused"], r.json()["capacity"]) == (True, 7)
    assert (await api.client.get(path, headers=api.admin)).json()["paused"] is True
    r = await api.client.get("/api/v1/admin/concerts/999999/waiting-room", headers=api.admin)
    assert (r.status_code, r.json()["code"]) == (404, "concert_not_found")
    assert (await api.client.get(path)).status_code == 401


async def test_an_opened_line_with_fans_in_it_cannot_be_moved_back_before_its_opening(
    api: Api, clock: FakeClock
) -> None:
    show = await api.make_show()
    path = f"/api/v1/admin/concerts/{show.concert_id}/waiting-room"
    await _own_line(api, show)
    fan = await api.register("in line")
    await _join(api, fan, show.concert_id)
    later = (clock.now + timedelta(hours=1)).isoformat()
    for method in ("PATCH", "PUT"):
        r = await api.client.request(method, path, json={"salesOpenAt": later}, headers=api.admin)
        assert (r.status_code, r.json()["code"]) == (409, "line_open"), r.text
    line = (await api.client.get(path, headers=api.admin)).json()
    assert line["salesOpenAt"] is None  # nothing changed, in the database or the line
    assert (await api.status(fan)).status_code == 200


async def test_a_token_from_a_concerts_line_passes_for_that_concert_only(api: Api) -> None:
    own, other = await api.make_show(title="Own"), await api.make_show(title="Other")
    await _own_line(api, own)
    fan = await api.register()
    await api.charge(fan, 50_000)
    status = await _join(api, fan, own.concert_id)
    assert (status["status"], status["concertId"], status["seatsLeft"]) == (
        "ADMITTED",
        own.concert_id,
        50,
    )
    assert (await api.seats(fan, own)).status_code == 200
    r = await api.seats(fan, other)
    assert (r.status_code, r.json()["code"]) == (403, "not_admitted")
    r = await api.client.get(f"/api/v1/concerts/{other.concert_id}/schedules", headers=fan.queue)
    assert r.status_code == 403
    r = await api.hold(fan, other, seat_number=1)
    assert (r.status_code, r.json()["code"]) == (403, "not_admitted")
    rid = (await api.hold(fan, own, seat_number=1)).json()["reservationId"]
    assert (await api.pay(fan, rid)).status_code == 201

    default_fan = await api.admitted_fan(balance=10_000, name="default")
    r = await api.seats(default_fan, own)  # the default line does not sell a concert's own
    assert (r.status_code, r.json()["code"]) == (403, "not_admitted")
    assert (await api.seats(default_fan, other)).status_code == 200


async def test_joining_by_concert_goes_to_the_default_line_without_one_and_checks_the_id(
    api: Api,
) -> None:
    show = await api.make_show()
    fan = await api.register()
    status = await _join(api, fan, show.concert_id)
    assert "concertId" not in status  # the default line's answer, as before
    assert (await api.seats(fan, show)).status_code == 200
    r = await api.client.post(
        "/api/v1/queue/tokens", json={"concertId": 999999}, headers=fan.access
    )
    assert (r.status_code, r.json()["code"]) == (404, "concert_not_found")
    for body in ({"concertId": "1"}, {"concertId": 0}, {"other": 1}, [1]):
        r = await api.client.post("/api/v1/queue/tokens", json=body, headers=fan.access)
        assert (r.status_code, r.json()["code"]) == (422, "validation_error"), body


async def test_a_join_reads_its_body_however_it_is_framed(api: Api) -> None:
    """An empty POST is not waited on for a body; a body of a given length and one
    sent in chunks (no length) are both read and name the concert's line."""
    show = await api.make_show()
    await _own_line(api, show, capacity=5)

    async def chunks() -> Any:
        yield b'{"concertId":'
        yield str(show.concert_id).encode() + b"}"

    framings: list[dict[str, Any]] = [
        {"content": b'{"concertId": %d}' % show.concert_id},
        {"content": chunks()},
    ]
    for framing in framings:
        fan = await api.register()
        r = await api.client.post(
            "/api/v1/queue/tokens",
            headers={**fan.access, "Content-Type": "application/json"},
            **framing,
        )
        assert r.status_code == 201, r.text
        assert r.json()["concertId"] == show.concert_id
        assert ("transfer-encoding" in r.request.headers) == (framing is framings[1])
    fan = await api.register()
    r = await api.client.post("/api/v1/queue/tokens", headers=fan.access)
    assert r.status_code == 201 and "concertId" not in r.json()  # the default line
    assert r.request.headers["content-length"] == "0"


async def test_fans_before_the_opening_are_drawn_into_order_at_it(
    make_settings: Callable[..., Settings], clock: FakeClock, database_url: str
) -> None:
    async with running_api(make_settings(admission_capacity=2), clock) as api:
        show = await api.make_show()
        opens = clock.now + timedelta(minutes=10)
        line = await _own_line(api, show, capacity=2, salesOpenAt=opens.isoformat())
        assert datetime.fromisoformat(line["salesOpenAt"]) == opens
        commitment = line["draw"]["seedCommitment"]
        assert line["draw"]["seed"] is None  # not told before the opening
        fans = [await api.register(f"early{i}") for i in range(6)]
        for fan in fans:
            status = await _join(api, fan, show.concert_id)
            assert (status["status"], status["position"]) == ("PRE_QUEUE", None)
            assert status["salesOpenAt"] is not None
            assert 1 <= status["pollAfterSeconds"] <= 15
        r = await api.seats(fans[0], show)
        assert (r.status_code, r.json()["code"]) == (403, "not_admitted")

        clock.advance(10 * 60 + 1)  # just past the opening (the pre-queue polls then)
        late = await api.register("late")
        assert (await _join(api, late, show.concert_id))["position"] == 5  # behind all six
        states = {f.user_id: (await api.status(f)).json() for f in fans}
        admitted = {u for u, s in states.items() if s["status"] == "ADMITTED"}
        line = (
            await api.client.get(
                f"/api/v1/admin/concerts/{show.concert_id}/waiting-room", headers=api.admin
            )
        ).json()
        seed = line["draw"]["seed"]
        assert hashlib.sha256(seed.encode()).hexdigest() == commitment
        order = sorted(states, key=lambda user: draw_rank(seed, user))
        assert admitted == set(order[:2])
        assert [states[u]["position"] for u in order[2:]] == [1, 2, 3, 4]

        db = Database(database_url)
        try:

            async def recorded() -> bool:
                async with db.core.connect() as conn:
                    row = (await conn.execute(select(line_draws))).one_or_none()
                return row is not None and row.draw_order == ",".join(map(str, order))

            await eventually(recorded)
        finally:
            await db.dispose()
        line = (
            await api.client.get(
                f"/api/v1/admin/concerts/{show.concert_id}/waiting-room", headers=api.admin
            )
        ).json()
        assert (line["draw"]["entrants"], line["draw"]["drawnAt"] is not None) == (6, True)


async def test_a_sold_out_line_tells_its_fans_and_takes_nobody_until_a_refund(
    make_settings: Callable[..., Settings], clock: FakeClock
) -> None:
    async with running_api(make_settings(), clock) as api:
        show = await api.make_show(seats=1, price=1_000)
        await _own_line(api, show, capacity=1)
        buyer = await api.register("buyer")
        await api.charge(buyer, 1_000)
        assert (await _join(api, buyer, show.concert_id))["status"] == "ADMITTED"
        waiter = await api.register("waiter")
        assert (await _join(api, waiter, show.concert_id))["status"] == "WAITING"
        rid = (await api.hold(buyer, show, seat_number=1)).json()["reservationId"]

        async def seats_left(n: int) -> bool:
            return bool((await api.status(waiter)).json()["seatsLeft"] == n)

        await eventually(lambda: seats_left(1))  # held is not sold: the line stays open
        assert (await api.pay(buyer, rid)).status_code == 201
        body = (await api.status(waiter)).json()  # the last sale closed the line itself
        assert body["status"] == "SOLD_OUT"
        assert (body["position"], body["seatsLeft"]) == (None, 0)
        refused = await api.seats(waiter, show)  # the gate says why (the drop reads it)
        assert refused.status_code == 403 and "SOLD_OUT" in refused.json()["detail"]
        latecomer = await api.register("late")
        r = await api.client.post(
            "/api/v1/queue/tokens", json={"concertId": show.concert_id}, headers=latecomer.access
        )
        assert (r.status_code, r.json()["code"]) == (409, "sold_out")
        line = (
            await api.client.get(
                f"/api/v1/admin/concerts/{show.concert_id}/waiting-room", headers=api.admin
            )
        ).json()
        assert (line["soldOutAt"] is not None, line["seatsLeft"]) == (True, 0)
        clock.advance(30)  # a poll now does not push the lapse past the sell-out's
        body = (await api.status(waiter)).json()
        lapse = timedelta(seconds=make_settings().waiter_timeout_seconds)
        assert body["status"] == "SOLD_OUT"
        assert datetime.fromisoformat(body["expiresAt"]) == (
            datetime.fromisoformat(line["soldOutAt"]) + lapse
        )

        assert (await api.refund(buyer, rid)).status_code == 200

        async def reopened() -> bool:
            r = await api.client.post(
                "/api/v1/queue/tokens",
                json={"concertId": show.concert_id},
                headers=latecomer.access,
            )
            return bool(r.status_code == 201)

        await eventually(reopened)


async def test_a_line_whose_shows_are_all_cancelled_closes_and_stays_closed(
    api: Api,
) -> None:
    show = await api.make_show(seats=2)
    await _own_line(api, show, capacity=1)
    first, waiter = await api.register("first"), await api.register("waiter")
    assert (await _join(api, first, show.concert_id))["status"] == "ADMITTED"
    assert (await _join(api, waiter, show.concert_id))["status"] == "WAITING"
    r = await api.client.post(
        f"/api/v1/admin/schedules/{show.schedule_id}/cancel", headers=api.admin
    )
    assert r.status_code == 200, r.text

    async def closed() -> bool:
        body = (await api.status(waiter)).json()
        return bool((body["status"], body["seatsLeft"]) == ("SOLD_OUT", 0))

    await eventually(closed)  # nothing is left to sell: no seat, no show
    latecomer = await api.register("late")
    r = await api.client.post(
        "/api/v1/queue/tokens", json={"concertId": show.concert_id}, headers=latecomer.access
    )
    assert (r.status_code, r.json()["code"]) == (409, "sold_out")
