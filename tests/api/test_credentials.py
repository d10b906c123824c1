"""Credentials: every kind of bad token answers 401, and tokens act for their own user."""

from __future__ import annotations

from datetime import timedelta

import jwt
import pytest

from tests.support import SECRET_KEY, Api


def _forge(claims: dict[str, object], key: str = SECRET_KEY) -> str:
    return jwt.encode(claims, key, algorithm="HS256")


@pytest.mark.parametrize(
    "header",
    [None, "", "Bearer", "Basic abc", "Bearer not-a-jwt", "Bearer a.b.c"],
)
async def test_missing_or_malformed_credentials_answer_401(api: Api, header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header}
    r = await api.client.get("/api/v1/wallet", headers=headers)
    assert r.status_code == 401
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["code"] == "invalid_token"


async def test_a_tampered_token_answers_401(api: Api) -> None:
    fan = await api.register()
    header, payload, signature = fan.access_token.split(".")
    tampered = f"{header}.{payload}.{signature[:-2]}{'AA' if signature[-2:] != 'AA' else 'BB'}"
    r = await api.client.get("/api/v1/wallet", headers={"Authorization": f"Bearer {tampered}"})
    assert r.status_code == 401
    assert r.json()["code"] == "invalid_token"


async def test_a_token_signed_with_another_key_answers_401(api: Api) -> None:
    token = _forge({"sub": "1", "typ": "access", "exp": 4_000_000_000}, key="x" * 40)
    r = await api.client.get("/api/v1/wallet", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401
    assert r.json()["code"] == "invalid_token"


async def test_an_expired_access_token_answers_token_expired(api: Api) -> None:
    fan = await api.register()
    api.clock.advance(timedelta(days=8).total_seconds())
    r = await api.client.get("/api/v1/wallet", headers=fan.access)
    assert r.status_code == 401
    assert r.json()["code"] == "token_expired"


async def test_a_queue_token_is_not_an_access_token_and_vice_versa(api: Api) -> None:
    fan = await api.admitted_fan()
    r = await api.client.get("/api/v1/wallet", headers=fan.queue)
    assert r.status_code == 401
    assert r.json()["code"] == "invalid_token"
    r = await api.client.get("/api/v1/queue/status", headers=fan.access)
    assert r.status_code == 401
    assert r.json()["code"] == "invalid_token"


async def test_a_token_for_a_user_that_does_not_exist_answers_401(api: Api) -> None:
    token = _forge({"sub": "999999", "typ": "access", "exp": 4_000_000_000})
    r = await api.client.get("/api/v1/wallet", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401


async def test_a_forged_queue_token_for_a_live_user_is_refused(api: Api) -> None:
    fan = await api.admitted_fan()
    claims = jwt.decode(fan.queue_token or "", options={"verify_signature": False})
    forged = _forge({**claims, "jti": "someone-elses"})
    r = await api.client.get("/api/v1/queue/status", headers={"Authorization": f"Bearer {forged}"})
    assert r.status_code == 401


async def test_the_admin_endpoints_need_the_admin_token(api: Api) -> None:
    fan = await api.register()
    for headers in ({}, fan.access, {"Authorization": "Bearer wrong"}):
        r = await api.client.get("/api/v1/admin/waiting-room", headers=headers)
        assert r.status_code == 401
        r = await api.client.post(
            "/api/v1/admin/concerts", json={"title": "t", "venue": "v"}, headers=headers
        )
        assert r.status_code == 401
