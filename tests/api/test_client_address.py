"""The client's address is its socket's peer, or the X-Forwarded-For hop a trusted
proxy names: seen here through a per-address limit (one sign-up per address), over
real sockets from several loopback addresses, under the server ``boxoffice serve``
runs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from boxoffice.config import Settings
from tests.api.edge import edge

PROXY = "127.0.0.2"


async def sign_up(client: httpx.AsyncClient, forwarded_for: str | None = None) -> int:
    headers = {} if forwarded_for is None else {"X-Forwarded-For": forwarded_for}
    r = await client.post("/api/v1/users", json={"name": "fan"}, headers=headers)
    assert r.status_code in (201, 429), r.text
    return r.status_code


def one_sign_up_each(make_settings: Callable[..., Settings], **more: Any) -> Settings:
    return make_settings(signups_per_address="1/minute", **more)


async def test_a_spoofed_header_from_an_untrusted_peer_changes_nothing(
    make_settings: Callable[..., Settings],
) -> None:
    """127.0.0.1 is no proxy here (uvicorn would believe it by default)."""
    async with edge(one_sign_up_each(make_settings, trusted_proxies=f"{PROXY}/32")) as server:
        fan = await server.client("127.0.0.1")
        assert await sign_up(fan, "203.0.113.1") == 201
        assert await sign_up(fan, "203.0.113.2") == 429
        assert await sign_up(fan, "203.0.113.3, 198.51.100.3") == 429
        assert await sign_up(await server.client("127.0.0.3")) == 201


async def test_with_no_trusted_proxy_no_header_is_believed(
    make_settings: Callable[..., Settings],
) -> None:
    async with edge(one_sign_up_each(make_settings)) as server:
        fan = await server.client("127.0.0.1")
        assert await sign_up(fan, "203.0.113.1") == 201
        assert await sign_up(fan, "203.0.113.2") == 429


async def test_a_trusted_proxys_hop_is_the_client(
    make_settings: Callable[..., Settings],
) -> None:
    async with edge(one_sign_up_each(make_settings, trusted_proxies=f"{PROXY}/32")) as server:
        proxy = await server.client(PROXY)
        assert await sign_up(proxy, "203.0.113.1") == 201
        assert await sign_up(proxy, "203.0.113.2") == 201
        assert await sign_up(proxy, "203.0.113.1") == 429
        # The client's own claim, left of the proxy's hop, is not believed either.
        assert await sign_up(proxy, "198.51.100.77, 203.0.113.2") == 429
        # Without the header, the proxy itself is the client.
        assert await sign_up(proxy) == 201
        assert await sign_up(proxy) == 429


async def test_a_chain_of_proxies_gives_the_right_most_hop_that_is_not_one(
    make_settings: Callable[..., Settings],
) -> None:
    settings = one_sign_up_each(make_settings, trusted_proxies=f"{PROXY}/32, 10.0.0.0/8")
    async with edge(settings) as server:
        proxy = await server.client(PROXY)
        assert await sign_up(proxy, "198.51.100.9, 203.0.113.7, 10.1.2.3") == 201
        assert await sign_up(proxy, "192.0.2.200, 203.0.113.7, 10.9.9.9, 10.0.0.1") == 429
        assert await sign_up(proxy, "203.0.113.7") == 429
        assert await sign_up(proxy, "203.0.113.7, 10.1.2.3, 203.0.113.8, 10.1.2.3") == 201


async def test_an_ipv6_client_is_counted_by_its_slash_64(
    make_settings: Callable[..., Settings],
) -> None:
    """A phone picks new addresses in its /64 at will: they are one client."""
    async with edge(one_sign_up_each(make_settings, trusted_proxies=f"{PROXY}/32")) as server:
        proxy = await server.client(PROXY)
        assert await sign_up(proxy, "2001:db8:1:2::1") == 201
        assert await sign_up(proxy, "2001:db8:1:2:9999::1") == 429
        assert await sign_up(proxy, "2001:db8:1:3::1") == 201
