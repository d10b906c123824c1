"""Accounts and sessions over HTTP, in both shapes: a fan is a person with an email
and a password, signed in on each device by a session whose refresh token rotates."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from boxoffice.config import Settings
from tests.support import Api, FakeClock, Fan, running_api

PASSWORD = "correct horse battery"


def _email(api: Api, name: str = "mina") -> str:
    return f"{name}.{id(api)}@example.com"


async def _sign_up(api: Api, email: str, *, name: str = "Mina", **headers: str) -> httpx.Response:
    return await api.client.post(
        "/api/v1/accounts",
        json={"email": email, "password": PASSWORD, "name": name},
        headers=headers,
    )


async def _sign_in(api: Api, email: str, password: str = PASSWORD) -> httpx.Response:
    return await api.client.post("/api/v1/sessions", json={"email": email, "password": password})


async def _refresh(api: Api, token: str | None = None) -> httpx.Response:
    body: dict[str, Any] | None = None if token is None else {"refreshToken": token}
    return await api.client.post("/api/v1/sessions/refresh", json=body)


def _fan(body: dict[str, Any]) -> Fan:
    return Fan(user_id=body["userId"], access_token=body["accessToken"])


async def test_an_account_signs_up_and_signs_in_to_the_same_fan(api: Api) -> None:
    email = _email(api)
    made = await _sign_up(api, email.upper())
    assert made.status_code == 201, made.text
    body = made.json()
    assert set(body) == {
        "userId",
        "name",
        "email",
        "accessToken",
        "accessExpiresAt",
        "refreshToken",
    }
    assert body["email"] == email  # kept lower-cased
    assert (await api.charge(_fan(body), 50_000)).status_code == 200

    again = await _sign_in(api, f"  {email.title()} ")
    assert again.status_code == 200, again.text
    assert again.json()["userId"] == body["userId"]
    assert await api.balance(_fan(again.json())) == 50_000


async def test_the_refresh_cookie_is_out_of_page_scripts_reach(api: Api) -> None:
    made = await _sign_up(api, _email(api))
    cookie = made.headers["set-cookie"]
    assert cookie.startswith(f"boxoffice_refresh={made.json()['refreshToken']};")
    for attribute in ("HttpOnly", "SameSite=strict", "Path=/api/v1/sessions", "Max-Age="):
        assert attribute.lower() in cookie.lower()


async def test_an_email_is_taken_once_whatever_its_case(api: Api) -> None:
    email = _email(api)
    assert (await _sign_up(api, email)).status_code == 201
    taken = await _sign_up(api, email.upper())
    assert taken.status_code == 409
    assert taken.json()["code"] == "email_taken"


@pytest.mark.parametrize("password", ["short", "aaaaaaaaaaaa", "{email}"])
async def test_a_weak_password_is_refused(api: Api, password: str) -> None:
    email = _email(api)
    r = await api.client.post(
        "/api/v1/accounts",
        json={"email": email, "password": password.format(email=email), "name": "Mina"},
    )
    assert r.status_code == 422
    assert r.json()["code"] == "weak_password"


async def test_an_unknown_email_and_a_wrong_password_are_answered_alike(api: Api) -> None:
    email = _email(api)
    await _sign_up(api, email)
    unknown = await _sign_in(api, _email(api, "nobody"))
    wrong = await _sign_in(api, email, "not the password")
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.json() == wrong.json()
    assert unknown.json()["code"] == "invalid_credentials"


async def test_a_guest_saves_their_account_and_keeps_points_and_tickets(api: Api) -> None:
    guest = await api.register("Mina")
    assert (await api.charge(guest, 30_000)).status_code == 200
    email = _email(api)
    saved = await _sign_up(api, email, **guest.access)
    assert saved.status_code == 201, saved.text
    assert saved.json()["userId"] == guest.user_id

    signed_in = await _sign_in(api, email)
    assert signed_in.json()["userId"] == guest.user_id
    assert await api.balance(_fan(signed_in.json())) == 30_000
    twice = await _sign_up(api, _email(api, "other"), **guest.access)
    assert twice.status_code == 422  # an account already


async def test_a_refresh_rotates_the_refresh_token(api: Api) -> None:
    first = (await _sign_up(api, _email(api))).json()
    second = await _refresh(api, first["refreshToken"])
    assert second.status_code == 200, second.text
    assert second.json()["refreshToken"] != first["refreshToken"]
    assert second.json()["userId"] == first["userId"]
    third = await _refresh(api, second.json()["refreshToken"])
    assert third.status_code == 200  # the new one renews in turn
    assert await api.balance(_fan(third.json())) == 0


async def test_a_rotated_out_refresh_token_used_again_revokes_the_session(api: Api) -> None:
    first = (await _sign_up(api, _email(api))).json()
    second = (await _refresh(api, first["refreshToken"])).json()
    reused = await _refresh(api, first["refreshToken"])
    assert reused.status_code == 401
    assert reused.json()["code"] == "invalid_token"
    # The thief's copy and the fan's current one alike: the session is over.
    assert (await _refresh(api, second["refreshToken"])).status_code == 401


async def test_control_without_reuse_the_current_refresh_token_keeps_working(api: Api) -> None:
    first = (await _sign_up(api, _email(api))).json()
    second = (await _refresh(api, first["refreshToken"])).json()
    assert (await _refresh(api, second["refreshToken"])).status_code == 200


async def test_the_cookie_alone_renews_the_session(api: Api) -> None:
    await _sign_up(api, _email(api))
    renewed = await _refresh(api)
    assert renewed.status_code == 200, renewed.text
    assert "boxoffice_refresh=" in renewed.headers["set-cookie"]
    # Renewed through the cookie, the new token goes back in the cookie alone: a
    # script on the page, which can make this call, never reads one.
    assert renewed.json()["refreshToken"] is None
    assert (await _refresh(api)).status_code == 200  # the cookie carries the new one


async def test_the_cookie_is_marked_secure_behind_a_tls_proxy(api: Api) -> None:
    r = await api.client.post(
        "/api/v1/accounts",
        json={"email": _email(api), "password": PASSWORD, "name": "Mina"},
        headers={"X-Forwarded-Proto": "https"},
    )
    assert "secure" in r.headers["set-cookie"].lower()
    plain = await _sign_up(api, _email(api, "plain"))
    assert "secure" not in plain.headers["set-cookie"].lower()


async def test_sign_out_revokes_the_sessions_refresh_token(api: Api) -> None:
    body = (await _sign_up(api, _email(api))).json()
    out = await api.client.delete("/api/v1/sessions/current", headers=_fan(body).access)
    assert out.status_code == 204
    assert 'boxoffice_refresh=""' in out.headers["set-cookie"]
    assert (await _refresh(api, body["refreshToken"])).status_code == 401


async def test_an_access_token_lapses_in_minutes_and_the_refresh_token_renews_it(
    api: Api, settings: Settings
) -> None:
    body = (await _sign_up(api, _email(api))).json()
    api.clock.advance(settings.access_token_ttl_seconds)
    lapsed = await api.client.get("/api/v1/wallet", headers=_fan(body).access)
    assert lapsed.status_code == 401
    assert lapsed.json()["code"] == "token_expired"
    renewed = await _refresh(api, body["refreshToken"])
    assert await api.balance(_fan(renewed.json())) == 0


async def test_a_restart_with_a_new_key_signs_nobody_out(
    api: Api, make_settings: Any, clock: FakeClock
) -> None:
    """The embedded shape makes up a key per process: its access tokens die with it,
    and the refresh token, kept in the database, signs the fan back in."""
    body = (await _sign_up(api, _email(api))).json()
    restarted = make_settings(secret_key="another-secret-key-after-a-restart-0123")
    async with running_api(restarted, clock) as after:
        stale = await after.client.get("/api/v1/wallet", headers=_fan(body).access)
        assert stale.status_code == 401
        renewed = await _refresh(after, body["refreshToken"])
        assert renewed.status_code == 200, renewed.text
        assert await after.balance(_fan(renewed.json())) == 0


async def test_a_rotated_key_still_reads_the_tokens_signed_before(
    api: Api, make_settings: Any, clock: FakeClock, settings: Settings
) -> None:
    body = (await _sign_up(api, _email(api))).json()
    rotated = make_settings(
        secret_key="the-new-secret-key-of-this-deployment-01",
        previous_secret_keys=settings.secret_key,
    )
    async with running_api(rotated, clock) as after:
        assert await after.balance(_fan(body)) == 0


async def test_failed_sign_ins_of_one_account_are_refused_with_a_wait(api: Api) -> None:
    email = _email(api)
    await _sign_up(api, email)
    wrong = [await _sign_in(api, email, f"wrong password {n}") for n in range(5)]
    assert [r.status_code for r in wrong] == [401] * 5
    refused = await _sign_in(api, email)  # the right password, too soon
    assert refused.status_code == 429
    assert refused.json()["code"] == "rate_limited"
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    other = _email(api, "other")
    await _sign_up(api, other)
    assert (await _sign_in(api, other)).status_code == 200  # another account is not held


async def test_a_success_clears_the_accounts_failures_from_that_address(api: Api) -> None:
    email = _email(api)
    await _sign_up(api, email)
    for round_ in range(3):
        for n in range(4):
            assert (await _sign_in(api, email, f"wrong {round_} {n}")).status_code == 401
        assert (await _sign_in(api, email)).status_code == 200


async def test_guest_sign_up_can_be_turned_off(make_settings: Any, clock: FakeClock) -> None:
    async with running_api(make_settings(guest_signup=False), clock) as api:
        r = await api.client.post("/api/v1/users", json={"name": "bot"})
        assert r.status_code == 404
        assert r.json()["code"] == "not_found"
        assert (await _sign_up(api, _email(api))).status_code == 201


def test_guest_sign_up_is_on_by_default_in_the_embedded_shape_only() -> None:
    assert Settings(database_url="sqlite:///x.db").guest_signup_on
    production = Settings(
        database_url="postgresql://db/boxoffice",
        secret_key="s" * 32,
        admin_token="a" * 24,
    )
    assert not production.guest_signup_on


async def test_sign_ins_at_once_each_get_a_session(api: Api) -> None:
    email = _email(api)
    await _sign_up(api, email)
    answers = await asyncio.gather(*(_sign_in(api, email) for _ in range(4)))
    assert [r.status_code for r in answers] == [200] * 4
    assert len({r.json()["refreshToken"] for r in answers}) == 4
