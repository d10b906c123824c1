"""The client's true address, as every limit and the access log count it.

A request's client is its socket's peer, unless that peer is one of
``TRUSTED_PROXIES``: then it is the right-most ``X-Forwarded-For`` hop that is not
itself a trusted proxy. Each proxy appends the address it was reached from, so the
hops right of that one were written by proxies we trust, and everything left of it
by the client, who may write anything. A header from a peer that is not trusted is
ignored, and so is a hop that is no address (only a trusted proxy could have put it
at that place, and a well-configured one never does): the request is then the last
trusted hop's. The scheme is taken from ``X-Forwarded-Proto`` on the same terms.

uvicorn's own proxy-header handling is off (``boxoffice.http.server``), so nothing
else believes the header; with no trusted proxy this layer is not installed at all.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from fastapi import FastAPI, Request
from starlette.types import ASGIApp, Receive, Scope, Send

from boxoffice.config import Settings

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
# Addresses whose trust has been decided, and headers whose client has been found, kept
# for the next request with them; a table this large is started again, not grown.
MAX_REMEMBERED = 100_000
SCHEMES = {"http": ("http", "ws"), "https": ("https", "wss")}


def client_host(request: Request) -> str:
    """The address the limits count a request under ("" when there is none, as over a
    Unix socket)."""
    return request.client.host if request.client else ""


class ClientAddress:
    def __init__(self, app: ASGIApp, *, trusted: Iterable[Network]) -> None:
        self.app = app
        self._networks = tuple(trusted)
        self._trust: dict[str, bool | None] = {}
        self._clients: dict[tuple[str, bytes], tuple[str, int]] = {}

    def trusted(self, host: str) -> bool | None:
        """Whether ``host`` is a trusted proxy; None when it is no address."""
        try:
            return self._trust[host]
        except KeyError:
            return self._decide(host)

    def _decide(self, host: str) -> bool | None:
        try:
            address = ipaddress.ip_address(_bare(host))
        except ValueError:
            verdict: bool | None = None
        else:
            if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
                address = address.ipv4_mapped
            verdict = any(address in network for network in self._networks)
        if len(self._trust) >= MAX_REMEMBERED:
            self._trust = {}
        self._trust[host] = verdict
        return verdict

    def client(self, peer: str, forwarded_for: str) -> str:
        """The client of a request from ``peer`` (a trusted proxy) with these hops."""
        nearest = peer
        for hop in reversed(forwarded_for.split(",")):
            hop = hop.strip()
            verdict = self.trusted(hop)
            if verdict is None:
                return nearest
            if not verdict:
                return _bare(hop)
            nearest = _bare(hop)
        return nearest  # every hop a proxy of ours: the farthest is as near as we know

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            peer = scope.get("client")
            if peer and self.trusted(peer[0]):
                self._forwarded(scope, peer[0])
        await self.app(scope, receive, send)

    def _forwarded(self, scope: Scope, peer: str) -> None:
        """Set the client and scheme in ``scope`` itself (made by the server for this
        request alone), as uvicorn's own proxy-header layer does."""
        hops: bytes | None = None
        proto: bytes | None = None
        for name, value in scope["headers"]:
            if name == b"x-forwarded-for":
                hops = value if hops is None else hops + b"," + value
            elif name == b"x-forwarded-proto":
                proto = value
        if hops is not None:
            # A fan polls through the same proxy with the same header all sale long.
            key = (peer, hops)
            client = self._clients.get(key)
            if client is None:
                if len(self._clients) >= MAX_REMEMBERED:
                    self._clients = {}
                client = self._clients[key] = (self.client(peer, hops.decode("latin-1")), 0)
            scope["client"] = client
        if proto is not None:
            # The proxy nearest us appends last (as uvicorn reads it).
            last = proto.rpartition(b",")[2].strip().lower().decode("latin-1")
            schemes = SCHEMES.get(last)
            if schemes is not None:
                scope["scheme"] = schemes[0] if scope["type"] == "http" else schemes[1]


def _bare(host: str) -> str:
    """An address without the port or brackets some proxies write ("[::1]:80")."""
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    if host.count(":") == 1:
        return host.partition(":")[0]
    return host


def install_client_address(app: FastAPI, settings: Settings) -> FastAPI:
    """Put ``ClientAddress`` outermost on ``app`` when any proxy is trusted."""
    networks = settings.trusted_proxy_networks
    installed: object = ClientAddress
    if networks and not any(m.cls is installed for m in app.user_middleware):
        app.add_middleware(ClientAddress, trusted=networks)
    return app
