"""A line's defences over HTTP, in both shapes: the places one address may hold, the
operator taking fans out, and the proof of work a join carries."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx

from boxoffice.config import Settings
from tests.support import Api, FakeClock, Fan, running_api

WAITING_ROOM = "/api/v1/admin/waiting-room"


@asynccontextmanager
async def from_address(api: Api, address: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client whose connections come from ``address`` (any 127.0.0.x is this machine)."""
    transport = httpx.AsyncHTTPTransport(local_address=address)
    async with httpx.AsyncClient(
        base_url=str(api.client.base_url), transport=transport, timeout=30
    ) as client:
        yield client


async def _join(client: httpx.AsyncClient, fan: Fan, **body: Any) -> httpx.Response:
    r = await client.post("/api/v1/queue/tokens", json=body or None, headers=fan.access)
    if r.status_code in (200, 201):
        fan.queue_token = r.json()["token"]
    return r


async def _fans(api: Api, n: int) -> list[Fan]:
    return [await api.register(f"fan{i}") for i in range(n)]


async def _configure(api: Api, **body: Any) -> dict[str, Any]:
    r = await api.client.patch(WAITING_ROOM, json=body, headers=api.admin)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def test_an_address_holds_at_most_its_places_in_a_line(api: Api) -> None:
    view = await _configure(api, placesPerAddress=2, capacity=0)
    assert (view["placesPerAddress"], view["challenge"]) == (2, "off")
    a, b, c, d = await _fans(api, 4)
    async with from_address(api, "127.0.0.2") as flood, from_address(api, "127.0.0.3") as fan:
        assert [(await _join(flood, f)).status_code for f in (a, b)] == [201, 201]
        refused = await _join(flood, c)
        assert refused.status_code == 429
        assert refused.json()["code"] == "rate_limited"
        assert int(refused.headers["Retry-After"]) >= 1
        assert (await _join(fan, d)).status_code == 201
        assert (await api.status(d)).json()["position"] == 3  # the refused took no place
        # A fan of that address who leaves frees a place for another.
        left = await flood.delete("/api/v1/queue/tokens/current", headers=a.queue)
        assert left.status_code == 204
        assert (await _join(flood, c)).status_code == 201
    view = (await api.client.get(WAITING_ROOM, headers=api.admin)).json()
    assert view["topAddresses"] == [
        {"address": "127.0.0.2", "places": 2},
        {"address": "127.0.0.3", "places": 1},
    ]
    metrics = (await api.client.get("/metrics")).text
    assert 'boxoffice_refused_total{reason="places_per_address"} 1.0' in metrics


async def test_the_cap_is_lifted_with_null_and_bad_values_are_refused(api: Api) -> None:
    await _configure(api, placesPerAddress=1, capacity=0)
    a, b = await _fans(api, 2)
    async with from_address(api, "127.0.0.2") as client:
        assert (await _join(client, a)).status_code == 201
        assert (await _join(client, b)).status_code == 429
        assert (await _configure(api, placesPerAddress=None))["placesPerAddress"] is None
        assert (await _join(client, b)).status_code == 201
    for body in ({"placesPerAddress": 0}, {"placesPerAddress": "3"}, {"challenge": "extreme"}):
        r = await api.client.patch(WAITING_ROOM, json=body, headers=api.admin)
        assert r.status_code == 422, body


async def test_a_new_line_takes_the_configured_cap(
    make_settings: Callable[..., Settings], clock: FakeClock
) -> None:
    async with running_api(make_settings(places_per_address=3), clock) as api:
        show = await api.make_show()
        view = (await api.client.get(WAITING_ROOM, headers=api.admin)).json()
        assert view["placesPerAddress"] == 3
        path = f"/api/v1/admin/concerts/{show.concert_id}/waiting-room"
        own = await api.client.put(path, json={}, headers=api.admin)
        assert (own.json()["placesPerAddress"], own.json()["challenge"]) == (3, "off")
        changed = await api.client.patch(
            path, json={"placesPerAddress": 5, "challenge": "medium"}, headers=api.admin
        )
        assert (changed.json()["placesPerAddress"], changed.json()["challenge"]) == (5, "medium")
        again = await api.client.patch(path, json={"capacity": 7}, headers=api.admin)
        assert (again.json()["placesPerAddress"], again.json()["challenge"]) == (5, "medium")


async def test_the_operator_takes_a_fan_and_an_address_out_of_the_line(api: Api) -> None:
    await _configure(api, capacity=0)
    honest, *flood_fans = await _fans(api, 4)
    async with from_address(api, "127.0.0.5") as flood, from_address(api, "127.0.0.6") as own:
        assert (await _join(own, honest)).status_code == 201
        for fan in flood_fans:
            assert (await _join(flood, fan)).status_code == 201
    first = flood_fans[0]
    r = await api.client.delete(f"{WAITING_ROOM}/fans/{first.user_id}", headers=api.admin)
    assert r.status_code == 204
    gone = await api.status(first)
    assert (gone.status_code, gone.json()["code"]) == (401, "token_expired")
    again = await api.client.delete(f"{WAITING_ROOM}/fans/{first.user_id}", headers=api.admin)
    assert again.status_code == 404
    r = await api.client.delete(f"{WAITING_ROOM}/addresses/127.0.0.5", headers=api.admin)
    assert r.status_code == 200
    assert sorted(r.json()["removedUserIds"]) == sorted(f.user_id for f in flood_fans[1:])
    for fan in flood_fans[1:]:
        assert (await api.status(fan)).status_code == 401
    assert (await api.status(honest)).json()["position"] == 1
    unauthorised = await api.client.delete(f"{WAITING_ROOM}/addresses/127.0.0.6")
    assert unauthorised.status_code == 401


async def test_a_concert_line_has_its_own_defences_and_removals(api: Api) -> None:
    show = await api.make_show()
    path = f"/api/v1/admin/concerts/{show.concert_id}/waiting-room"
    r = await api.client.put(path, json={"capacity": 0, "placesPerAddress": 1}, headers=api.admin)
    assert r.status_code == 200, r.text
    a, b = await _fans(api, 2)
    async with from_address(api, "127.0.0.7") as client:
        assert (await _join(client, a, concertId=show.concert_id)).status_code == 201
        assert (await _join(client, b, concertId=show.concert_id)).status_code == 429
        assert (await _join(client, b)).status_code == 201  # the default line has no cap
    r = await api.client.delete(f"{path}/fans/{a.user_id}", headers=api.admin)
    assert r.status_code == 204
    assert (await api.status(a)).status_code == 401
    assert (await api.status(b)).status_code == 200  # the default line's fan stays
    view = (await api.client.get(path, headers=api.admin)).json()
    assert view["topAddresses"] == []


def solve(challenge: dict[str, Any]) -> str:
    """What a fan's page does: the number whose SHA-256 after the salt is the challenge."""
    salt, target = challenge["salt"], challenge["challenge"]
    for number in range(challenge["maxnumber"] + 1):
        if hashlib.sha256(f"{salt}{number}".encode()).hexdigest() == target:
            payload = {
                "algorithm": challenge["algorithm"],
                "challenge": target,
                "number": number,
                "salt": salt,
                "signature": challenge["signature"],
            }
            return base64.b64encode(json.dumps(payload).encode()).decode()
    raise AssertionError("the challenge has no solution")


async def _challenge(api: Api, fan: Fan, **params: Any) -> dict[str, Any]:
    r = await api.client.get("/api/v1/queue/challenge", params=params, headers=fan.access)
    assert r.status_code == 200, r.text
    body = dict(r.json())
    assert set(body) == {"algorithm", "challenge", "salt", "maxnumber", "signature"}
    return body


async def test_a_line_that_asks_for_proof_of_work_takes_each_proof_once(api: Api) -> None:
    await _configure(api, challenge="low", capacity=0)
    fan, other = await _fans(api, 2)
    refused = await _join(api.client, fan)
    assert (refused.status_code, refused.json()["code"]) == (403, "challenge_required")
    proof = solve(await _challenge(api, fan))
    assert (await _join(api.client, fan, proof=proof)).status_code == 201
    assert (
        await api.client.delete("/api/v1/queue/tokens/current", headers=fan.queue)
    ).status_code == 204
    replayed = await _join(api.client, fan, proof=proof)
    assert (replayed.status_code, replayed.json()["code"]) == (403, "challenge_required")
    # Another fan's proof is not this one's.
    theirs = solve(await _challenge(api, fan))
    assert (await _join(api.client, other, proof=theirs)).status_code == 403
    garbage = await _join(api.client, other, proof="bm90IGEgcHJvb2Y=")
    assert garbage.status_code == 403
    metrics = (await api.client.get("/metrics")).text
    assert 'boxoffice_refused_total{reason="challenge_required"} 4.0' in metrics
    # Switched off while the sale runs, a join needs no proof.
    await _configure(api, challenge="off")
    assert (await _join(api.client, other)).status_code == 201


async def test_a_proof_is_for_one_line_and_expires(api: Api) -> None:
    show = await api.make_show()
    path = f"/api/v1/admin/concerts/{show.concert_id}/waiting-room"
    r = await api.client.put(path, json={"challenge": "low"}, headers=api.admin)
    assert r.status_code == 200, r.text
    await _configure(api, challenge="low")
    fan = await api.register()
    for_default_line = solve(await _challenge(api, fan))
    r = await _join(api.client, fan, concertId=show.concert_id, proof=for_default_line)
    assert (r.status_code, r.json()["code"]) == (403, "challenge_required")
    stale = solve(await _challenge(api, fan, concertId=show.concert_id))
    api.clock.advance(seconds=301)  # past CHALLENGE_TTL_SECONDS
    fan = await api.renew(fan)
    r = await _join(api.client, fan, concertId=show.concert_id, proof=stale)
    assert (r.status_code, r.json()["code"]) == (403, "challenge_required")
    fresh = solve(await _challenge(api, fan, concertId=show.concert_id))
    r = await _join(api.client, fan, concertId=show.concert_id, proof=fresh)
    assert r.status_code == 201, r.text
    assert r.json()["concertId"] == show.concert_id


async def test_the_operator_reads_refusals_by_reason(api: Api) -> None:
    await _configure(api, placesPerAddress=1, challenge="low", capacity=0)
    a, b = await _fans(api, 2)
    async with from_address(api, "127.0.0.9") as client:
        assert (await _join(client, a)).status_code == 403
        assert (await _join(client, a, proof=solve(await _challenge(api, a)))).status_code == 201
        assert (await _join(client, b, proof=solve(await _challenge(api, b)))).status_code == 429
    r = await api.client.get("/api/v1/admin/refusals", headers=api.admin)
    assert r.status_code == 200
    reasons = r.json()["reasons"]
    assert (reasons["challenge_required"], reasons["places_per_address"]) == (1, 1)
    assert (await api.client.get("/api/v1/admin/refusals")).status_code == 401


async def test_raising_the_level_refuses_solutions_of_easier_challenges(api: Api) -> None:
    await _configure(api, challenge="low")
    fan = await api.register()
    easy = solve(await _challenge(api, fan))
    await _configure(api, challenge="medium")
    r = await _join(api.client, fan, proof=easy)
    assert (r.status_code, r.json()["code"]) == (403, "challenge_required")
    harder = await _challenge(api, fan)
    assert "level=medium" in harder["salt"]
    assert (await _join(api.client, fan, proof=solve(harder))).status_code == 201
