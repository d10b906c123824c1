"""Problem responses for any input, and the operational endpoints."""

from __future__ import annotations

import pytest

from tests.support import Api


async def test_unknown_routes_are_404_problems(api: Api) -> None:
    r = await api.client.get("/api/v1/nothing-here")
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert set(body) == {"type", "title", "status", "detail", "code"}
    assert body["status"] == 404


async def test_a_wrong_method_is_a_405_problem(api: Api) -> None:
    r = await api.client.put("/api/v1/users", json={})
    assert r.status_code == 405
    assert r.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"not json",
        b"[]",
        b"null",
        b'{"name": 5}',
        b'{"name": ""}',
        b'{"name": "a\\u0000b"}',
        b'{"name": "' + b"x" * 101 + b'"}',
        b"\xff\xfe",
        b'{"name": "ok", "extra": 1}',
    ],
)
async def test_malformed_bodies_get_a_422_problem(api: Api, content: bytes) -> None:
    r = await api.client.post(
        "/api/v1/users", content=content, headers={"content-type": "application/json"}
    )
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["code"] == "validation_error"


@pytest.mark.parametrize("path_id", ["0", "-1", "abc", "99999999999999999999999", "1.5"])
async def test_bad_path_ids_get_a_422_problem(api: Api, path_id: str) -> None:
    fan = await api.admitted_fan()
    r = await api.client.get(f"/api/v1/reservations/{path_id}", headers=fan.queue)
    assert r.status_code == 422
    r = await api.client.get(f"/api/v1/concerts/{path_id}/schedules", headers=fan.queue)
    assert r.status_code == 422


async def test_health_and_readiness(api: Api) -> None:
    assert (await api.client.get("/healthz")).json() == {"status": "ok"}
    assert (await api.client.get("/readyz")).json() == {
        "status": "ready",
        "checks": {"database": "ok", "waitingRoom": "ok"},
    }


async def test_metrics_count_requests_by_route_and_the_line(api: Api) -> None:
    show = await api.make_show()
    fan = await api.admitted_fan(balance=10_000)
    rid = (await api.hold(fan, show, seat_number=1)).json()["reservationId"]
    await api.pay(fan, rid)
    text = (await api.client.get("/metrics")).text
    assert (
        'boxoffice_http_requests_total{method="POST",route="/api/v1/reservations",status="201"} 1.0'
        in text
    )
    assert "boxoffice_http_request_duration_seconds_bucket" in text
    await api.seats(fan, show)  # a route on the app itself, not in an included router
    seat_map = "/api/v1/concerts/{concert_id}/schedules/{schedule_id}/seats"
    text = (await api.client.get("/metrics")).text
    assert f'route="{seat_map}",status="200"}} 1.0' in text
    assert "boxoffice_holds_total 1.0" in text
    assert "boxoffice_payments_total 1.0" in text
    assert 'boxoffice_queue_waiting{line="default"} 0.0' in text
    assert "boxoffice_queue_admitted" in text


async def test_the_openapi_document_describes_every_endpoint_credential_and_error(api: Api) -> None:
    spec = (await api.client.get("/openapi.json")).json()
    paths = spec["paths"]
    expected = {
        ("post", "/api/v1/users"),
        ("get", "/api/v1/wallet"),
        ("post", "/api/v1/wallet/charges"),
        ("get", "/api/v1/wallet/transactions"),
        ("post", "/api/v1/queue/tokens"),
        ("get", "/api/v1/queue/status"),
        ("delete", "/api/v1/queue/tokens/current"),
        ("get", "/api/v1/concerts"),
        ("get", "/api/v1/concerts/{concert_id}/schedules"),
        ("get", "/api/v1/concerts/{concert_id}/schedules/{schedule_id}/seats"),
        ("post", "/api/v1/reservations"),
        ("get", "/api/v1/reservations/{reservation_id}"),
        ("delete", "/api/v1/reservations/{reservation_id}"),
        ("post", "/api/v1/payments"),
        ("post", "/api/v1/admin/concerts"),
        ("post", "/api/v1/admin/concerts/{concert_id}/schedules"),
        ("get", "/api/v1/admin/waiting-room"),
        ("patch", "/api/v1/admin/waiting-room"),
        ("get", "/api/v1/admin/concerts/{concert_id}/waiting-room"),
        ("put", "/api/v1/admin/concerts/{concert_id}/waiting-room"),
        ("patch", "/api/v1/admin/concerts/{concert_id}/waiting-room"),
        ("post", "/api/v1/reservations/{reservation_id}/refund"),
        ("post", "/api/v1/admin/reservations/{reservation_id}/refund"),
        ("post", "/api/v1/admin/schedules/{schedule_id}/cancel"),
        ("get", "/api/v1/admin/sales"),
        ("get", "/healthz"),
        ("get", "/readyz"),
        ("get", "/metrics"),
    }
    documented = {(m, p) for p, ops in paths.items() for m in ops}
    assert expected <= documented
    schemes = set(spec["components"]["securitySchemes"])
    assert {"AccessToken", "QueueToken", "AdminToken"} <= schemes
    pay = paths["/api/v1/payments"]["post"]
    assert {"201", "401", "402", "403", "404", "409", "422"} <= set(pay["responses"])
    assert "insufficient_balance" in pay["responses"]["402"]["description"]
    assert "Idempotency-Key" in {p["name"] for p in pay["parameters"]}
    # The busiest routes read their requests themselves; they are documented all the same.
    poll = paths["/api/v1/queue/status"]["get"]
    assert poll["security"] == [{"QueueToken": []}]
    assert poll["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/QueueStatusPublic"
    }
    seat_map = paths["/api/v1/concerts/{concert_id}/schedules/{schedule_id}/seats"]["get"]
    assert {(p["in"], p["name"], p["required"]) for p in seat_map["parameters"]} == {
        ("path", "concert_id", True),
        ("path", "schedule_id", True),
        ("query", "status", False),
    }
    assert {"200", "401", "403", "404", "422"} <= set(seat_map["responses"])
    docs = await api.client.get("/docs")
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()


DEEP = b"[" * 7_000 + b"]" * 7_000  # deeper than any parser recurses, under the body limit
HUGE_INT = b'{"amount": ' + b"9" * 4_300 + b"}"


@pytest.mark.parametrize(
    "content", [b"\xff\xfe\xfd", DEEP, HUGE_INT], ids=["not-utf8", "deep", "int"]
)
@pytest.mark.parametrize(
    "path", ["/api/v1/users", "/api/v1/wallet/charges", "/api/v1/queue/tokens"]
)
async def test_bodies_no_json_parser_would_take_are_422_not_400(
    api: Api, content: bytes, path: str
) -> None:
    fan = await api.register()
    r = await api.client.post(
        path, content=content, headers={**fan.access, "content-type": "application/json"}
    )
    assert (r.status_code, r.json()["code"]) == (422, "validation_error"), r.text


async def test_a_body_past_the_limit_is_413_whatever_is_in_it(api: Api) -> None:
    r = await api.client.post(
        "/api/v1/users", content=b"[" * 100_000, headers={"content-type": "application/json"}
    )
    assert (r.status_code, r.json()["code"]) == (413, "payload_too_large")


async def test_a_405_says_which_methods_are_allowed(api: Api) -> None:
    r = await api.client.put("/api/v1/users", json={})
    assert r.status_code == 405
    assert r.headers["allow"] == "POST"


async def test_the_last_day_there_is_lists_its_schedules_instead_of_failing(api: Api) -> None:
    show = await api.make_show()
    fan = await api.admitted_fan()
    r = await api.client.get(
        f"/api/v1/concerts/{show.concert_id}/schedules",
        params={"date": "9999-12-31"},
        headers=fan.queue,
    )
    assert (r.status_code, r.json()["schedules"]) == (200, [])


@pytest.mark.parametrize("moment", ["9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+05:00"])
async def test_a_schedule_time_with_no_utc_form_is_422(api: Api, moment: str) -> None:
    show = await api.make_show()
    r = await api.client.post(
        f"/api/v1/admin/concerts/{show.concert_id}/schedules",
        json={"concertAt": moment, "seatCount": 1, "price": 1},
        headers=api.admin,
    )
    assert (r.status_code, r.json()["code"]) == (422, "validation_error")


@pytest.mark.parametrize("field", ["title", "venue"])
async def test_a_nul_in_a_concert_is_422_not_busy(api: Api, field: str) -> None:
    body = {"title": "Show", "venue": "Hall", field: "Sh\x00ow"}
    r = await api.client.post("/api/v1/admin/concerts", json=body, headers=api.admin)
    assert (r.status_code, r.json()["code"]) == (422, "validation_error")
    assert "retry-after" not in r.headers


async def test_the_openapi_document_says_any_endpoint_may_be_busy(api: Api) -> None:
    spec = (await api.client.get("/openapi.json")).json()
    busy = spec["components"]["responses"]["Busy"]
    assert "Retry-After" in busy["headers"]
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            assert operation["responses"]["503"] == {"$ref": "#/components/responses/Busy"}, (
                method,
                path,
            )
