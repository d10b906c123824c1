"""The waiting room over HTTP: order, pace, liveness, the gate and the operator's knobs."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from boxoffice.app import create_app, line_defaults
from boxoffice.config import Settings
from boxoffice.queue.memory import MemoryQueueStore
from boxoffice.queue.model import DEFAULT_LINE
from tests.support import Api, FakeClock, Fan, running_api, serve


async def _line(api: Api, n: int) -> list[Fan]:
    fans = []
    for i in range(n):
        fan = await api.register(f"fan{i}")
        assert (await api.join(fan)).status_code == 201
        fans.append(fan)
    return fans


async def _state(api: Api, fan: Fan) -> tuple[str, int]:
    r = await api.status(fan)
    assert r.status_code == 200, r.text
    return r.json()["status"], r.json()["position"]


async def test_joining_twice_returns_the_same_live_token_with_200(
    make_settings: Callable[..., Settings], clock: FakeClock
) -> None:
    async with running_api(make_settings(admission_capacity=0), clock) as api:
        fan = await api.register()
        first = await api.join(fan)
        again = await api.join(fan)
        assert first.status_code == 201
        assert again.status_code == 200
        assert again.json()["token"] == first.json()["token"]
        body = first.json()
        assert set(body) == {
            "token",
            "status",
            "position",
            "estimatedWaitSeconds",
            "pollAfterSeconds",
            "expiresAt",
        }
        assert body["status"] == "WAITING"
        assert body["position"] == 1
        assert body["estimatedWaitSeconds"] is None
        assert body["pollAfterSeconds"] == 1


async def test_fans_are_admitted_first_come_first_served(
    make_settings: Callable[..., Settings], clock: FakeClock
) -> None:
    async with running_api(make_settings(admission_capacity=1), clock) as api:
        a, b, c = await _line(api, 3)
        assert await _state(api, a) == ("ADMITTED", 0)
        assert await _state(api, b) == ("WAITING", 1)
        assert await _state(api, c) == ("WAITING", 2)

        assert (
            await api.client.delete("/api/v1/queue/tokens/current", headers=a.queue)
        ).status_code == 204
        assert await _state(api, c) == ("WAITING", 1)
        assert await _state(api, b) == ("ADMITTED", 0)
        assert (await api.status(a)).status_code == 401


async def test_a_silent_waiter_is_dropped_and_never_holds_up_those_behind(
    make_settings: Callable[..., Settings], clock: FakeClock
) -> None:
    settings = make_settings(admission_capacity=1, waiter_timeout_seconds=30)
    async with running_api(settings, clock) as api:
        a, b, c = await _line(api, 3)
        clock.advance(20)
        assert await _state(api, c) == ("WAITING", 2)  # c keeps polling, b does not
        clock.advance(15)
        assert await _state(api, c) == ("WAITING", 1)  # b fell silent 35 s ago: gone
        r = await api.status(b)
        assert r.status_code == 401
        assert r.json()["code"] == "token_expired"
        await api.client.delete("/api/v1/queue/tokens/current", headers=a.queue)
        assert await _state(api, c) == ("ADMITTED", 0)


async def test_an_idle_admitted_fan_lapses_and_frees_the_place(
    make_settings: Callable[..., Settings], clock: FakeClock
) -> None:
    settings = make_settings(
        admission_capacity=1, admitted_idle_seconds=120, waiter_timeout_seconds=300
    )
    async with running_api(settings, clock) as api:
        a, b = await _line(api, 2)
        assert await _state(api, b) == ("WAITING", 1)
        clock.advance(119)
        assert await _state(api, b) == ("WAITING", 1)
        clock.advance(1)
        assert await _state(api, b) == ("ADMITTED", 0)
        assert (await api.status(a)).status_code == 401


async def test_activity_keeps_an_admitted_fan_in(
    make_settings: Callable[..., Settings], clock: FakeClock
) -> None:
    settings = make_settings(admission_capacity=1, admitted_idle_seconds=120)
    async with running_api(settings, clock) as api:
        show = await api.make_show()
        a = await api.admitted_fan()
        for _ in range(3):
            clock.advance(100)
            assert (await api.seats(a, show)).status_code == 200
        assert await _state(api, a) == ("ADMITTED", 0)


async def test_admission_keeps_to_the_pace_per_minute(
    make_settings: Callable[..., Settings], clock: FakeClock
) -> None:
    settings = make_settings(admission_capacity=100, admission_per_minute=2)
    async with running_api(settings, clock) as api:
        a, b, c = await _line(api, 3)
        assert [(await _state(api, f))[0] for f in (a, b, c)] == ["ADMITTED", "ADMITTED", "WAITING"]
        body = (await api.status(c)).json()
        assert body["estimatedWaitSeconds"] is not None
        assert 1 <= body["estimatedWaitSeconds"] <= 60
        clock.advance(59)
        assert await _state(api, c) == ("WAITING", 1)
        clock.advance(1)
        assert await _state(api, c) == ("ADMITTED", 0)


async def test_expires_at_says_when_a_silent_waiter_is_dropped(
    make_settings: Callable[..., Settings], clock: FakeClock
) -> None:
    settings = make_settings(admission_capacity=0, waiter_timeout_seconds=45)
    async with running_api(settings, clock) as api:
        [fan] = await _line(api, 1)
        clock.advance(10)
        body = (await api.status(fan)).json()
        expires = datetime.fromisoformat(body["expiresAt"])
        assert (expires - clock.now).total_seconds() == 45


async def test_a_waiting_token_is_stopped_at_the_gate(
    make_settings: Callable[..., Settings], clock: FakeClock
) -> None:
    async with running_api(make_settings(admission_capacity=1), clock) as api:
        show = await api.make_show()
        _first, second = await _line(api, 2)
        for r in (
            await api.seats(second, show),
            await api.client.get(
                f"/api/v1/concerts/{show.concert_id}/schedules", headers=second.queue
            ),
            await api.hold(second, show, seat_number=1),
            await api.pay(second, 1),
        ):
            assert r.status_code == 403
            assert r.json()["code"] == "not_admitted"


async def test_an_operator_can_pause_and_resize_the_waiting_room(
    make_settings: Callable[..., Settings], clock: FakeClock
) -> None:
    async with running_api(make_settings(admission_capacity=1), clock) as api:
        r = await api.client.patch(
            "/api/v1/admin/waiting-room", json={"paused": True}, headers=api.admin
        )
        assert r.status_code == 200
        assert r.json()["paused"] is True
        a, b = await _line(api, 2)
        assert await _state(api, a) == ("WAITING", 1)
        view = (await api.client.get("/api/v1/admin/waiting-room", headers=api.admin)).json()
        assert view == {
            "capacity": 1,
            "admissionPerMinute": 100_000,
            "paused": True,
            "waiting": 2,
            "admitted": 0,
            "admittedLastMinute": 0,
            "lineResets": 0,
            "lineResetAt": None,
            "placesPerAddress": None,
            "challenge": "off",
            "topAddresses": [{"address": "127.0.0.1", "places": 2}],
        }
        r = await api.client.patch(
            "/api/v1/admin/waiting-room",
            json={"paused": False, "capacity": 2},
            headers=api.admin,
        )
        assert r.json()["admitted"] == 2
        assert r.json()["admittedLastMinute"] == 2
        assert await _state(api, b) == ("ADMITTED", 0)


async def test_bad_waiting_room_settings_are_refused(api: Api) -> None:
    for body in ({"capacity": -1}, {"paused": "yes"}, {"admissionPerMinute": 1.5}, {"other": 1}):
        r = await api.client.patch("/api/v1/admin/waiting-room", json=body, headers=api.admin)
        assert r.status_code == 422, body


async def test_positions_grow_the_poll_interval_far_back(
    make_settings: Callable[..., Settings], clock: FakeClock
) -> None:
    async with running_api(make_settings(admission_capacity=0), clock) as api:
        fans = await _line(api, 30)
        near = (await api.status(fans[0])).json()
        far = (await api.status(fans[-1])).json()
        assert near["position"] == 1
        assert far["position"] == 30
        assert near["pollAfterSeconds"] == 1
        assert far["pollAfterSeconds"] > near["pollAfterSeconds"]


async def test_the_operator_sees_a_line_the_store_has_before_its_record_is_committed(
    make_settings: Callable[..., Settings], clock: FakeClock
) -> None:
    """The store may hold the default line before the database shows its record: the
    tick seeds it in a transaction still open when the operator's first view reads, or
    the store outlived a database started afresh. The view waits for the record."""
    settings = make_settings(redis_url=None)
    store = MemoryQueueStore(lambda: clock().timestamp())
    assert await store.seed(DEFAULT_LINE, line_defaults(settings))
    async with serve(create_app(settings, clock=clock, queue_store=store)) as client:
        api = Api(client, clock)
        r = await api.client.get("/api/v1/admin/waiting-room", headers=api.admin)
        assert r.status_code == 200, r.text
        assert (r.json()["capacity"], r.json()["lineResets"]) == (1000, 0)
