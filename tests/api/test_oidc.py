"""External identity over HTTP, in both shapes: with OIDC configured, an access token
signed by the site's identity provider is accepted wherever boxoffice's own is, and
every token that provider did not sign for this audience, now, is refused.

The provider is the test's own: a JWKS served from a loopback port, with keys made
here, and tokens minted with PyJWT."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import socket
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm
from jwt.utils import base64url_encode

from boxoffice.config import Settings
from boxoffice.storage.db import Database
from boxoffice.users import repository
from boxoffice.users.oidc import LEEWAY_SECONDS, REFETCH_SECONDS, RETRY_FAILED_SECONDS
from tests.support import Api, FakeClock, Fan, running_api

ISSUER = "https://idp.example.test/"
AUDIENCE = "boxoffice"

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


@cache
def _private_key(kid: str) -> PrivateKey:
    """One key per kid for the whole run: RSA keys take a while to make."""
    if kid.startswith("rsa"):
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if kid.startswith("ec"):
        return ec.generate_private_key(ec.SECP256R1())
    return ed25519.Ed25519PrivateKey.generate()


ALGORITHM_OF = {"rsa": "RS256", "ec": "ES256", "ed": "EdDSA"}


def _algorithm(kid: str) -> str:
    return ALGORITHM_OF[kid.split("-")[0]]


def _public_jwk(kid: str) -> dict[str, Any]:
    public = _private_key(kid).public_key()
    if isinstance(public, rsa.RSAPublicKey):
        jwk = RSAAlgorithm.to_jwk(public, as_dict=True)
    elif isinstance(public, ec.EllipticCurvePublicKey):
        jwk = ECAlgorithm.to_jwk(public, as_dict=True)
    else:
        jwk = OKPAlgorithm.to_jwk(public, as_dict=True)
    return {**jwk, "kid": kid, "use": "sig"}


def _public_pem(kid: str) -> bytes:
    return (
        _private_key(kid)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


def _b64(data: bytes) -> str:
    return base64url_encode(data).decode()


def _framed(header: dict[str, Any], payload: dict[str, Any]) -> str:
    return _b64(json.dumps(header).encode()) + "." + _b64(json.dumps(payload).encode())


@dataclass
class Issuer:
    """The site's identity provider: a JWKS on a loopback port, and the tokens it signs."""

    clock: FakeClock
    published: list[str] = field(default_factory=lambda: ["rsa-1", "ec-1", "ed-1"])
    failing: bool = False
    hits: int = 0
    url: str = ""

    def claims(self, sub: str | None = "fan-1", **overrides: Any) -> dict[str, Any]:
        now = int(self.clock.now.timestamp())
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": sub,
            "iat": now,
            "exp": now + 600,
            "name": "Mina",
        }
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def token(
        self,
        kid: str = "rsa-1",
        *,
        sub: str | None = "fan-1",
        alg: str | None = None,
        signed_by: str | None = None,
        **claims: Any,
    ) -> str:
        """A token naming ``kid``, signed with that key (or the one ``signed_by`` names)."""
        signer = signed_by or kid
        return jwt.encode(
            self.claims(sub, **claims),
            _private_key(signer),
            algorithm=alg or _algorithm(signer),
            headers={"kid": kid},
        )

    def jwks(self) -> bytes:
        return json.dumps({"keys": [_public_jwk(kid) for kid in self.published]}).encode()


@contextmanager
def _serve_jwks(issuer: Issuer) -> Iterator[None]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            issuer.hits += 1
            body = b'{"error": "down"}' if issuer.failing else issuer.jwks()
            self.send_response(500 if issuer.failing else 200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    issuer.url = f"http://127.0.0.1:{server.server_address[1]}/jwks"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def issuer(clock: FakeClock) -> Iterator[Issuer]:
    found = Issuer(clock)
    with _serve_jwks(found):
        yield found


def _oidc(make_settings: Callable[..., Settings], jwks_url: str, **more: Any) -> Settings:
    return make_settings(oidc_issuer=ISSUER, oidc_audience=AUDIENCE, oidc_jwks_url=jwks_url, **more)


@pytest.fixture
async def api(
    make_settings: Callable[..., Settings], issuer: Issuer, clock: FakeClock
) -> AsyncIterator[Api]:
    async with running_api(_oidc(make_settings, issuer.url), clock) as found:
        yield found


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _wallet(api: Api, token: str) -> httpx.Response:
    return await api.client.get("/api/v1/wallet", headers=_bearer(token))


def _refused(r: httpx.Response, code: str, status: int = 401) -> None:
    assert r.status_code == status, r.text
    assert r.json()["code"] == code, r.json()


# Accepted


@pytest.mark.parametrize("kid", ["rsa-1", "ec-1", "ed-1"])
async def test_a_token_signed_with_each_allowed_algorithm_opens_the_wallet(
    api: Api, issuer: Issuer, kid: str
) -> None:
    r = await _wallet(api, issuer.token(kid))
    assert r.status_code == 200, r.text
    assert r.json()["balance"] == 0


async def test_a_token_from_the_issuer_buys_a_ticket_end_to_end(api: Api, issuer: Issuer) -> None:
    show = await api.make_show(price=10_000)  # boxoffice's own tokens work beside the issuer's
    token = issuer.token("ec-1", sub="buyer")
    user_id = (await _wallet(api, token)).json()["userId"]
    fan = Fan(user_id=user_id, access_token=token)
    assert (await api.charge(fan, 10_000)).status_code == 200
    joined = await api.join(fan)
    assert joined.status_code == 201, joined.text
    assert joined.json()["status"] == "ADMITTED"
    held = await api.hold(fan, show, seat_number=3)
    assert held.status_code == 201, held.text
    paid = await api.pay(fan, held.json()["reservationId"])
    assert paid.status_code == 201, paid.text
    assert paid.json()["balance"] == 0
    assert await api.balance(fan) == 0


async def test_one_subject_is_one_user_made_on_first_sight_with_its_name(
    api: Api, issuer: Issuer, clock: FakeClock, database_url: str
) -> None:
    first = (await _wallet(api, issuer.token("rsa-1", sub="s-1", name="Jisoo"))).json()["userId"]
    clock.advance(5)  # another token of the same subject, signed with another key
    again = (await _wallet(api, issuer.token("ed-1", sub="s-1"))).json()["userId"]
    other = (
        await _wallet(api, issuer.token(sub="s-2", name=None, preferred_username="lisa"))
    ).json()["userId"]
    assert first == again != other
    db = Database(database_url)
    try:
        async with db.statement() as conn:
            jisoo = await repository.by_id(conn, user_id=first)
            lisa = await repository.by_id(conn, user_id=other)
    finally:
        await db.dispose()
    assert jisoo is not None and lisa is not None
    assert (jisoo.name, jisoo.external_id) == ("Jisoo", f"{ISSUER} s-1")
    assert (lisa.name, lisa.external_id, lisa.email) == ("lisa", f"{ISSUER} s-2", None)


async def test_a_subject_first_seen_by_many_requests_at_once_is_still_one_user(
    api: Api, issuer: Issuer
) -> None:
    tokens = [issuer.token(kid, sub="crowd") for kid in ("rsa-1", "ec-1", "ed-1") * 4]
    answers = await asyncio.gather(*(_wallet(api, token) for token in tokens))
    assert all(r.status_code == 200 for r in answers), [r.text for r in answers]
    assert len({r.json()["userId"] for r in answers}) == 1


async def test_a_clock_skew_within_the_leeway_is_tolerated(api: Api, issuer: Issuer) -> None:
    now = _now(issuer)
    skewed = issuer.token(exp=now - LEEWAY_SECONDS // 2, nbf=now + LEEWAY_SECONDS // 2)
    assert (await _wallet(api, skewed)).status_code == 200


# Refused


def _none_token(issuer: Issuer) -> str:
    return _framed({"alg": "none", "typ": "JWT", "kid": "rsa-1"}, issuer.claims()) + "."


def _hs256_with_public_key(issuer: Issuer) -> str:
    """The classic confusion: the issuer's public key used as an HMAC secret."""
    signing_input = _framed({"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}, issuer.claims())
    mac = hmac.new(_public_pem("rsa-1"), signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + _b64(mac)


def _now(issuer: Issuer) -> int:
    return int(issuer.clock.now.timestamp())


# Each is valid in every respect but the one its name says.
BAD_TOKENS: dict[str, tuple[Callable[[Issuer], str], str]] = {
    "another issuer": (lambda i: i.token(iss="https://idp.elsewhere.test/"), "invalid_token"),
    "another audience": (lambda i: i.token(aud="another-service"), "invalid_token"),
    "expired": (lambda i: i.token(exp=_now(i) - LEEWAY_SECONDS - 60), "token_expired"),
    "not valid yet": (lambda i: i.token(nbf=_now(i) + LEEWAY_SECONDS + 60), "invalid_token"),
    "no expiry": (lambda i: i.token(exp=None), "invalid_token"),
    "no subject": (lambda i: i.token(sub=None), "invalid_token"),
    "alg none": (_none_token, "invalid_token"),
    "HS256 with the public key": (_hs256_with_public_key, "invalid_token"),
    "an algorithm off the list": (lambda i: i.token("rsa-1", alg="RS512"), "invalid_token"),
    "another key's algorithm": (lambda i: i.token("rsa-1", signed_by="ec-1"), "invalid_token"),
    "a stranger's signature": (
        lambda i: i.token("rsa-1", signed_by="rsa-stranger"),
        "invalid_token",
    ),
}


@pytest.mark.parametrize("fault", list(BAD_TOKENS))
async def test_a_token_the_issuer_did_not_sign_for_us_now_is_refused(
    api: Api, issuer: Issuer, fault: str
) -> None:
    make, code = BAD_TOKENS[fault]
    assert (await _wallet(api, issuer.token())).status_code == 200  # the keys are known
    _refused(await _wallet(api, make(issuer)), code)
    _refused(await api.client.post("/api/v1/queue/tokens", headers=_bearer(make(issuer))), code)


@pytest.mark.parametrize(
    "fault", ["alg none", "HS256 with the public key", "an algorithm off the list"]
)
async def test_an_algorithm_off_the_list_is_refused_before_any_key_is_fetched(
    api: Api, issuer: Issuer, fault: str
) -> None:
    make, code = BAD_TOKENS[fault]
    _refused(await _wallet(api, make(issuer)), code)
    assert issuer.hits == 0


async def test_a_remembered_token_still_lapses_at_its_expiry(
    api: Api, issuer: Issuer, clock: FakeClock
) -> None:
    token = issuer.token(exp=_now(issuer) + 60)
    assert (await _wallet(api, token)).status_code == 200
    clock.advance(60 + LEEWAY_SECONDS)
    _refused(await _wallet(api, token), "token_expired")


async def test_without_oidc_an_issuer_s_token_is_refused_as_any_stranger_s(
    make_settings: Callable[..., Settings], issuer: Issuer, clock: FakeClock
) -> None:
    async with running_api(make_settings(), clock) as api:
        _refused(await _wallet(api, issuer.token()), "invalid_token")
    assert issuer.hits == 0


# Keys: rotation, unknown kids, the issuer's outage


async def test_a_rotated_key_is_fetched_and_a_withdrawn_one_no_longer_verifies(
    api: Api, issuer: Issuer, clock: FakeClock
) -> None:
    old = issuer.token("rsa-1", sub="old")
    assert (await _wallet(api, old)).status_code == 200
    issuer.published = ["rsa-2"]
    clock.advance(REFETCH_SECONDS + 1)
    r = await _wallet(api, issuer.token("rsa-2"))
    assert r.status_code == 200, r.text
    assert issuer.hits == 2
    _refused(await _wallet(api, old), "invalid_token")  # remembered, but its key is gone
    _refused(await _wallet(api, issuer.token("rsa-1")), "invalid_token")


async def test_forged_kids_are_refused_without_hammering_the_issuer(
    api: Api, issuer: Issuer, clock: FakeClock
) -> None:
    assert (await _wallet(api, issuer.token())).status_code == 200
    assert issuer.hits == 1
    forged = [issuer.token(f"forged-{n}", signed_by="rsa-1") for n in range(20)]
    for answer in await asyncio.gather(*(_wallet(api, token) for token in forged)):
        _refused(answer, "invalid_token")
    assert issuer.hits == 1  # all within the window after the first fetch
    clock.advance(REFETCH_SECONDS + 1)
    for token in forged[:5]:
        _refused(await _wallet(api, token), "invalid_token")
    assert issuer.hits == 2  # one fetch per window, however many kids


async def test_an_unreachable_issuer_is_answered_busy_not_unauthorized(
    make_settings: Callable[..., Settings], issuer: Issuer, clock: FakeClock
) -> None:
    with socket.socket() as taken:  # a port nothing listens on once it is closed
        taken.bind(("127.0.0.1", 0))
        nowhere = f"http://127.0.0.1:{taken.getsockname()[1]}/jwks"
    async with running_api(_oidc(make_settings, nowhere), clock) as api:
        for _ in range(3):
            r = await _wallet(api, issuer.token())
            _refused(r, "busy", status=503)
            assert r.headers["Retry-After"]


async def test_a_failing_jwks_is_busy_and_then_recovers(
    api: Api, issuer: Issuer, clock: FakeClock
) -> None:
    issuer.failing = True
    _refused(await _wallet(api, issuer.token()), "busy", status=503)
    _refused(await _wallet(api, issuer.token()), "busy", status=503)
    assert issuer.hits == 1  # a failed fetch is retried no sooner than its own wait
    issuer.failing = False
    clock.advance(RETRY_FAILED_SECONDS + 1)
    assert (await _wallet(api, issuer.token())).status_code == 200
    assert issuer.hits == 2


async def test_known_keys_keep_working_through_an_outage(
    api: Api, issuer: Issuer, clock: FakeClock
) -> None:
    assert (await _wallet(api, issuer.token("ec-1", sub="early"))).status_code == 200
    issuer.failing = True
    clock.advance(REFETCH_SECONDS + 1)
    assert (await _wallet(api, issuer.token("ed-1", sub="later"))).status_code == 200
    assert issuer.hits == 1
    # A kid it does not know cannot be told from a rotation while the issuer is down.
    _refused(await _wallet(api, issuer.token("rsa-2")), "busy", status=503)
