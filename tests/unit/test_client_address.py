"""Which address a request is counted under, from its peer and X-Forwarded-For."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from starlette.types import Receive, Scope, Send

from boxoffice.http.client_address import ClientAddress

PROXIES = [ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("2001:db8::/32")]


def layer() -> ClientAddress:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        raise AssertionError("not called")

    return ClientAddress(app, trusted=PROXIES)


@pytest.mark.parametrize(
    ("forwarded_for", "client"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("198.51.100.1, 203.0.113.7", "203.0.113.7"),  # the left one is the client's say
        ("198.51.100.1, 203.0.113.7, 10.0.0.9, 10.1.1.1", "203.0.113.7"),
        ("10.0.0.9, 10.1.1.1", "10.0.0.9"),  # proxies all the way: the farthest
        ("203.0.113.7:51234", "203.0.113.7"),
        ("[2001:db8::1]:443, 2001:db9::5", "2001:db9::5"),
        ("198.51.100.1, [2001:db9::5]:443, 2001:db8::7", "2001:db9::5"),
        ("198.51.100.1, unknown", "10.0.0.5"),  # no address: the proxy that passed it
        ("198.51.100.1, garbage, 10.0.0.9", "10.0.0.9"),
        ("", "10.0.0.5"),
        ("::ffff:10.0.0.3, 203.0.113.9", "203.0.113.9"),
        ("203.0.113.9, ::ffff:10.0.0.3", "203.0.113.9"),  # a mapped proxy is a proxy
    ],
)
def test_the_client_is_the_right_most_hop_that_is_not_a_proxy(
    forwarded_for: str, client: str
) -> None:
    assert layer().client("10.0.0.5", forwarded_for) == client


async def run(scope: dict[str, Any]) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.update(scope)

    async def receive() -> Any:
        raise AssertionError

    async def send(message: Any) -> None:
        raise AssertionError

    await ClientAddress(app, trusted=PROXIES)(scope, receive, send)
    return seen


def scope(peer: str, *headers: tuple[bytes, bytes]) -> dict[str, Any]:
    return {"type": "http", "client": (peer, 4000), "scheme": "http", "headers": list(headers)}


async def test_a_trusted_proxy_sets_the_client_and_the_scheme() -> None:
    seen = await run(
        scope(
            "10.0.0.5",
            (b"x-forwarded-for", b"198.51.100.1"),
            (b"x-forwarded-for", b"203.0.113.7"),  # a second line continues the list
            (b"x-forwarded-proto", b"https"),
        )
    )
    assert seen["client"] == ("203.0.113.7", 0)
    assert seen["scheme"] == "https"


async def test_anyone_elses_headers_change_nothing() -> None:
    seen = await run(
        scope(
            "203.0.113.50",
            (b"x-forwarded-for", b"198.51.100.1"),
            (b"x-forwarded-proto", b"https"),
        )
    )
    assert seen["client"] == ("203.0.113.50", 4000)
    assert seen["scheme"] == "http"


async def test_a_scheme_that_is_none_is_ignored() -> None:
    seen = await run(scope("10.0.0.5", (b"x-forwarded-proto", b"gopher")))
    assert seen["scheme"] == "http"
    assert seen["client"] == ("10.0.0.5", 4000)
