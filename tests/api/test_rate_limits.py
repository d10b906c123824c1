"""The edge limits over real sockets, from several loopback addresses: each refuses
past its number (429 rate_limited with Retry-After) and passes under it, holds
nobody else, cannot be dodged with a made-up X-Forwarded-For, is shared by the
instances of one Redis, and is off with RATE_LIMITS=false."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import httpx
import pytest

from boxoffice.config import Settings
from tests.api.edge import ADMIN, WRONG_ADMIN, Edge, default, edge
from tests.support import Api, Fan

PASSWORD = "correct horse battery"
ADMIN_VIEW = "/api/v1/admin/waiting-room"


def refused(r: httpx.Response, within: int = 60) -> bool:
    if r.status_code != 429:
        return False
    assert r.json()["code"] == "rate_limited", r.text
    assert 1 <= int(r.headers["retry-after"]) <= within, r.headers
    return True


async def guest(client: httpx.AsyncClient, forwarded_for: str | None = None) -> httpx.Response:
    headers = {} if forwarded_for is None else {"X-Forwarded-For": forwarded_for}
    return await client.post("/api/v1/users", json={"name": "fan"}, headers=headers)


async def account(client: httpx.AsyncClient, email: str | None = None) -> httpx.Response:
    email = email or f"{uuid.uuid4().hex[:10]}@example.com"
    body = {"email": email, "password": PASSWORD, "name": "Sora"}
    return await client.post("/api/v1/accounts", json=body)


async def sign_in(
    client: httpx.AsyncClient, email: str, password: str = PASSWORD
) -> httpx.Response:
    return await client.post("/api/v1/sessions", json={"email": email, "password": password})


async def refused_count(server: Edge, reason: str) -> float:
    text = (await (await server.client()).get("/metrics")).text
    for line in text.splitlines():
        if line.startswith(f'boxoffice_refused_total{{reason="{reason}"}}'):
            return float(line.split()[-1])
    return 0.0


async def test_sign_ups_from_one_address_are_refused_past_their_number(
    make_settings: Callable[..., Settings],
) -> None:
    async with edge(make_settings(signups_per_address="3/minute")) as server:
        fan = await server.client("127.0.0.1")
        assert [(await guest(fan)).status_code for _ in range(3)] == [201] * 3
        assert refused(await guest(fan))
        assert refused(await account(fan))  # an account is a sign-up as well
        assert (await guest(await server.client("127.0.0.2"))).status_code == 201
        assert await refused_count(server, "signup_address") == 2


async def test_account_sign_ups_count_per_address(
    make_settings: Callable[..., Settings],
) -> None:
    async with edge(make_settings(signups_per_address="2/minute")) as server:
        fan = await server.client("127.0.0.1")
        assert [(await account(fan)).status_code for _ in range(2)] == [201] * 2
        assert refused(await account(fan))
        assert refused(await guest(fan))
        assert (await account(await server.client("127.0.0.2"))).status_code == 201


async def test_a_made_up_forwarded_for_cannot_dodge_a_limit(
    make_settings: Callable[..., Settings],
) -> None:
    async with edge(make_settings(signups_per_address="3/minute")) as server:
        bot = await server.client("127.0.0.1")
        answers = [(await guest(bot, f"203.0.113.{n}")).status_code for n in range(1, 7)]
        assert answers == [201, 201, 201, 429, 429, 429]


async def test_sign_ins_from_one_address_are_refused_past_their_number(
    make_settings: Callable[..., Settings],
) -> None:
    async with edge(make_settings(signins_per_address="3/minute")) as server:
        email = f"{uuid.uuid4().hex[:10]}@example.com"
        assert (await account(await server.client("127.0.0.3"), email)).status_code == 201
        fan = await server.client("127.0.0.1")
        assert [(await sign_in(fan, email)).status_code for _ in range(3)] == [200] * 3
        assert refused(await sign_in(fan, email))
        assert (await sign_in(await server.client("127.0.0.2"), email)).status_code == 200
        assert await refused_count(server, "signin_address") == 1


async def test_by_default_failed_sign_ins_of_one_account_are_refused_within_ten(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings()
    for name in (
        "failed_signins_per_account_and_address",
        "failed_signins_per_account",
        "failed_signins_per_address",
    ):
        assert getattr(settings, name) == default(name)
    async with edge(settings) as server:
        email = f"{uuid.uuid4().hex[:10]}@example.com"
        assert (await account(await server.client("127.0.0.3"), email)).status_code == 201
        guesser = await server.client("127.0.0.1")
        answers = [await sign_in(guesser, email, f"guess {n}") for n in range(10)]
        assert any(refused(r) for r in answers)
        # The fan, from their own address, still signs in.
        assert (await sign_in(await server.client("127.0.0.2"), email)).status_code == 200


async def test_twenty_wrong_admin_tokens_a_minute_are_refused_and_the_operator_is_not(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(admin_failures_per_address=default("admin_failures_per_address"))
    async with edge(settings) as server:
        guesser = await server.client("127.0.0.2")
        answers = [await guesser.get(ADMIN_VIEW, headers=WRONG_ADMIN) for _ in range(20)]
        statuses = [r.status_code for r in answers]
        assert set(statuses) <= {401, 429}
        assert 429 in statuses
        first = statuses.index(429)
        assert all(refused(r, within=3600) for r in answers[first:])
        # While over, even the right token is refused from there: guessing cannot go on.
        assert refused(await guesser.get(ADMIN_VIEW, headers=ADMIN), within=3600)
        operator = await server.client("127.0.0.3")
        assert (await operator.get(ADMIN_VIEW, headers=ADMIN)).status_code == 200
        assert (await operator.get(ADMIN_VIEW, headers=WRONG_ADMIN)).status_code == 401
        assert await refused_count(server, "admin_token") >= 1


async def test_the_right_admin_token_is_never_counted(
    make_settings: Callable[..., Settings],
) -> None:
    async with edge(make_settings(admin_failures_per_address="3/minute")) as server:
        operator = await server.client("127.0.0.1")
        for _ in range(10):
            assert (await operator.get(ADMIN_VIEW, headers=ADMIN)).status_code == 200
        for _ in range(3):
            assert (await operator.get(ADMIN_VIEW, headers=WRONG_ADMIN)).status_code == 401
        assert refused(await operator.get(ADMIN_VIEW, headers=ADMIN))


async def test_joins_from_one_address_are_refused_past_their_number(
    make_settings: Callable[..., Settings],
) -> None:
    async with edge(make_settings(joins_per_address="3/minute")) as server:
        here = await server.api("127.0.0.1")
        fans = [await here.register(f"fan{n}") for n in range(4)]
        assert [(await here.join(fan)).status_code for fan in fans[:3]] == [201] * 3
        assert refused(await here.join(fans[3]))
        elsewhere = await server.api("127.0.0.2")
        assert (await elsewhere.join(fans[3])).status_code == 201
        assert await refused_count(server, "join_address") == 1


async def test_joins_of_one_account_are_refused_past_their_number(
    make_settings: Callable[..., Settings],
) -> None:
    async with edge(make_settings(joins_per_account="3/minute")) as server:
        apis = [await server.api(f"127.0.0.{n}") for n in range(1, 5)]
        fan = await apis[0].register()
        # A reload gets back the same place; from another address, still the same fan.
        answers = [(await api.join(fan)).status_code for api in apis[:3]]
        assert answers == [201, 200, 200]
        assert refused(await apis[3].join(fan))
        other = await apis[3].register()
        assert (await apis[3].join(other)).status_code == 201
        assert await refused_count(server, "join_account") == 1


async def test_a_token_polling_much_faster_than_told_is_refused(
    make_settings: Callable[..., Settings],
) -> None:
    async with edge(make_settings(polls_per_token="5/10 seconds")) as server:
        api = await server.api("127.0.0.1")
        fast, calm = await api.admitted_fan(name="fast"), await api.admitted_fan(name="calm")
        assert [(await api.status(fast)).status_code for _ in range(5)] == [200] * 5
        assert refused(await api.status(fast), within=10)
        assert (await api.status(calm)).status_code == 200  # same address, own token
        assert await refused_count(server, "poll_too_fast") == 1


@pytest.mark.parametrize("backend", ["production"])  # the shape with counts to share
async def test_the_instances_of_one_redis_share_the_count(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(signups_per_address="2/minute")
    async with edge(settings) as a, edge(settings) as b:
        to_a, to_b = await a.client("127.0.0.1"), await b.client("127.0.0.1")
        assert (await guest(to_a)).status_code == 201
        assert (await guest(to_b)).status_code == 201
        assert refused(await guest(to_a))
        assert refused(await guest(to_b))


async def test_rate_limits_false_turns_every_limit_off(
    make_settings: Callable[..., Settings],
) -> None:
    tight = "1/minute"
    settings = make_settings(
        rate_limits=False,
        signups_per_address=tight,
        signins_per_address=tight,
        joins_per_address=tight,
        joins_per_account=tight,
        admin_failures_per_address=tight,
        polls_per_token=tight,
        failed_signins_per_account_and_address=tight,
        failed_signins_per_account=tight,
        failed_signins_per_address=tight,
    )
    async with edge(settings) as server:
        client = await server.client("127.0.0.1")
        assert [(await guest(client)).status_code for _ in range(3)] == [201] * 3
        email = f"{uuid.uuid4().hex[:10]}@example.com"
        assert [(await account(client, e)).status_code for e in (email, None)] == [201] * 2
        assert [(await sign_in(client, email, "wrong")).status_code for _ in range(3)] == [401] * 3
        assert [(await sign_in(client, email)).status_code for _ in range(3)] == [200] * 3
        for _ in range(3):
            assert (await client.get(ADMIN_VIEW, headers=WRONG_ADMIN)).status_code == 401
        assert (await client.get(ADMIN_VIEW, headers=ADMIN)).status_code == 200
        api = Api(client, server.clock)
        fan: Fan = await api.admitted_fan()
        for _ in range(3):
            assert (await api.join(fan)).status_code in (200, 201)
        assert [(await api.status(fan)).status_code for _ in range(5)] == [200] * 5
