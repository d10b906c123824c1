"""The HTTP edge holds one rule for each thing it reads and answers: HEAD wherever GET,
``Allow`` naming every method of a path, a time only as ISO 8601 with an offset, and
an id in a path only as decimal digits."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest

from boxoffice.config import Settings
from tests.api.edge import edge
from tests.support import Api, FakeClock

# Longer than nothing at all, far shorter than a keep-alive timeout: an answer that is
# not here by then is not coming.
HANG = 5.0


# HEAD


def _same_head(get: httpx.Response, head: httpx.Response) -> None:
    assert head.status_code == get.status_code
    assert head.content == b""
    assert {k: v for k, v in head.headers.items() if k != "date"} == {
        k: v for k, v in get.headers.items() if k != "date"
    }
    assert "content-length" in head.headers


@pytest.mark.parametrize("path", ["/healthz", "/", "/api/v1/concerts", "/api/v1/queue/status"])
async def test_head_is_answered_as_get_is_without_the_body(api: Api, path: str) -> None:
    get = await api.client.get(path)
    head = await api.client.head(path)
    _same_head(get, head)


async def test_head_is_answered_on_the_direct_routes_too(api: Api) -> None:
    show = await api.make_show()
    fan = await api.admitted_fan()
    for path, headers in (
        ("/api/v1/queue/status", fan.queue),
        (f"/api/v1/concerts/{show.concert_id}/schedules", fan.queue),
        ("/api/v1/wallet", fan.access),
    ):
        get = await api.client.get(path, headers=headers)
        assert get.status_code == 200, get.text
        _same_head(get, await api.client.head(path, headers=headers))


async def test_head_where_get_is_not_answered_is_a_405_naming_the_methods(api: Api) -> None:
    r = await api.client.head("/api/v1/queue/tokens")
    assert (r.status_code, r.headers["allow"], r.content) == (405, "POST", b"")


async def _read_answer(reader: asyncio.StreamReader, *, head: bool) -> tuple[int, bytes]:
    raw = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HANG)
    status_line, *lines = raw.decode("latin-1").split("\r\n")[:-2]
    headers = dict(line.lower().split(": ", 1) for line in lines)
    length = 0 if head else int(headers["content-length"])
    body = await asyncio.wait_for(reader.readexactly(length), HANG)
    return int(status_line.split()[1]), body


async def _pipelined_get_head_get(url: str) -> list[tuple[int, bytes]]:
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(
            b"GET /healthz HTTP/1.1\r\nHost: boxoffice\r\n\r\n"
            b"HEAD /healthz HTTP/1.1\r\nHost: boxoffice\r\n\r\n"
            b"GET /api/v1/concerts HTTP/1.1\r\nHost: boxoffice\r\n\r\n"
        )
        return [
            await _read_answer(reader, head=False),
            await _read_answer(reader, head=True),
            await _read_answer(reader, head=False),
        ]
    finally:
        writer.close()


async def test_a_head_pipelined_between_gets_is_answered_in_its_turn(
    make_settings: Callable[..., Settings], clock: FakeClock
) -> None:
    """On the server ``boxoffice serve`` runs (its own HTTP protocol), one connection."""
    async with edge(make_settings(), clock) as running:
        answers = await _pipelined_get_head_get(running.url)
    assert answers == [(200, b'{"status":"ok"}'), (200, b""), (200, b'{"items":[]}')]


async def test_a_head_pipelined_between_gets_is_answered_in_its_turn_by_any_server(
    api: Api,
) -> None:
    answers = await _pipelined_get_head_get(str(api.client.base_url).rstrip("/"))
    assert answers == [(200, b'{"status":"ok"}'), (200, b""), (200, b'{"items":[]}')]


# Allow


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("DELETE", "/api/v1/admin/waiting-room", "GET, HEAD, PATCH"),
        ("POST", "/api/v1/reservations/1", "GET, HEAD, DELETE"),
        ("OPTIONS", "/api/v1/admin/concerts/1/waiting-room", "GET, HEAD, PUT, PATCH"),
        ("DELETE", "/api/v1/wallet", "GET, HEAD"),
        ("PUT", "/api/v1/queue/tokens", "POST"),
        ("PUT", "/api/v1/users", "POST"),
    ],
)
async def test_a_405_names_every_method_the_path_accepts(
    api: Api, method: str, path: str, allow: str
) -> None:
    r = await api.client.request(method, path, headers=api.admin)
    assert (r.status_code, r.json()["code"]) == (405, "method_not_allowed")
    assert r.headers["allow"] == allow


# Times


async def _concert(api: Api) -> int:
    r = await api.client.post(
        "/api/v1/admin/concerts", json={"title": "Night", "venue": "Dome"}, headers=api.admin
    )
    assert r.status_code == 201, r.text
    return int(r.json()["concertId"])


NOT_TIMES: list[Any] = [
    0,
    1893456000,
    1893456000.5,
    "0",
    "1893456000",
    "2030-01-01",
    "2030-01-01T19:00:00",  # no offset
    "01/01/2030 19:00 +00:00",
    True,
]


@pytest.mark.parametrize("when", NOT_TIMES, ids=repr)
async def test_a_show_time_is_iso_8601_with_an_offset_and_nothing_else(api: Api, when: Any) -> None:
    concert_id = await _concert(api)
    url = f"/api/v1/admin/concerts/{concert_id}/schedules"
    r = await api.client.post(url, json={"concertAt": when, "price": 1}, headers=api.admin)
    assert (r.status_code, r.json()["code"]) == (422, "validation_error"), r.text
    for good in ("2030-01-01T19:00:00Z", "2030-01-02T04:00:00+09:00"):
        r = await api.client.post(url, json={"concertAt": good, "price": 1}, headers=api.admin)
        assert r.status_code == 201, r.text
        assert r.json()["concertAt"] == "2030-01-01T19:00:00Z"


@pytest.mark.parametrize("when", NOT_TIMES, ids=repr)
async def test_a_sale_opening_is_iso_8601_with_an_offset_and_nothing_else(
    api: Api, when: Any
) -> None:
    url = f"/api/v1/admin/concerts/{await _concert(api)}/waiting-room"
    r = await api.client.patch(url, json={"salesOpenAt": when}, headers=api.admin)
    assert (r.status_code, r.json()["code"]) == (422, "validation_error"), r.text
    opening = (api.clock.now + timedelta(days=1)).isoformat()
    r = await api.client.patch(url, json={"salesOpenAt": opening}, headers=api.admin)
    assert r.status_code == 200, r.text


@pytest.mark.parametrize(
    "day",
    ["0", "1893456000", "20301224", "2030-12-24T00:00:00", "2030-12-24T00:00:00Z", "24.12.2030"],
)
async def test_a_schedules_date_is_yyyy_mm_dd_and_nothing_else(api: Api, day: str) -> None:
    show = await api.make_show()
    fan = await api.admitted_fan()
    url = f"/api/v1/concerts/{show.concert_id}/schedules"
    r = await api.client.get(url, params={"date": day}, headers=fan.queue)
    assert (r.status_code, r.json()["code"]) == (422, "validation_error"), r.text
    r = await api.client.get(url, params={"date": "2030-12-24"}, headers=fan.queue)
    assert r.status_code == 200, r.text


# Ids in a path

# Each writes the id it is given some other way than in decimal digits alone.
NOT_IDS: list[Callable[[int], str]] = [
    lambda n: f"{n}.0",
    lambda n: f"+{n}",
    lambda n: f"%20{n}",
    lambda n: f"{n}%20",
    lambda n: f"{n}e0",
    lambda n: f"0x{n:x}",
    lambda n: f"0_{n}",  # a separator Python's int() drops
]


async def test_an_id_in_any_path_is_decimal_digits_alone(api: Api) -> None:
    show = await api.make_show()
    fan = await api.admitted_fan(balance=show.price)
    held = await api.hold(fan, show, seat_number=1)
    assert held.status_code == 201, held.text
    rid = held.json()["reservationId"]
    admin = api.admin
    schedule = {"concertAt": "2030-01-01T19:00:00Z", "price": 1}
    # (method, path with {} for the id, the id, credential, body); every one reaches
    # its endpoint with the id written plainly.
    requests: list[tuple[str, str, int, dict[str, str], dict[str, Any] | None]] = [
        ("GET", "/api/v1/concerts/{}/schedules", show.concert_id, fan.queue, None),
        (
            "GET",
            f"/api/v1/concerts/{show.concert_id}/schedules/{{}}/seats",
            show.schedule_id,
            fan.queue,
            None,
        ),
        ("POST", "/api/v1/admin/concerts/{}/schedules", show.concert_id, admin, schedule),
        ("GET", "/api/v1/admin/concerts/{}/waiting-room", show.concert_id, admin, None),
        ("GET", "/api/v1/reservations/{}", rid, fan.access, None),
        ("POST", "/api/v1/reservations/{}/refund", rid, fan.access, None),
        ("POST", "/api/v1/admin/reservations/{}/refund", rid, admin, None),
        ("DELETE", "/api/v1/admin/waiting-room/fans/{}", 10**9, admin, None),
    ]
    for method, template, given, headers, body in requests:
        plain = await api.client.request(method, template.format(given), headers=headers, json=body)
        assert plain.status_code != 422, (template, plain.text)
        for write in NOT_IDS:
            path = template.format(write(given))
            r = await api.client.request(method, path, headers=headers, json=body)
            assert (r.status_code, r.json()["code"]) == (422, "validation_error"), (
                method,
                path,
                r.text,
            )
