"""One instance's wall clock is 90 s off, beside a correct one: it must still read
every instant that guards a seat or money from the storage's clock. Neither may it
give away a hold that is alive (ahead), nor keep one alive past ``heldUntil``
(behind), nor reveal the opening's seed before the opening.

Before the clock was the storage's, each scenario failed at its first check: the
instance ahead read X's hold as EXPIRED, let Y take the seat and showed the seed;
the one behind kept the lapsed hold and let X pay for a seat that was Y's to take."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import pytest

from tests.faults.conftest import Launch
from tests.faults.crowd import ADMIN, CHARGE, make_show
from tests.faults.test_clock_skew import skewed

# Ahead, the hold outlives b's idea of it by far: b at +90 s would call it lapsed
# from 10 s on. Behind, it lapses soon: b at -90 s would call it alive for 90 s more.
HOLD_SECONDS = {90: 100, -90: 8}
PAST_HOLD = {90: 12.0, -90: 10.0}  # seconds after the hold when b is asked about it
OPENS_IN = 6.0  # the concert line's opening, from when it is set


@dataclass
class Visit:
    access: str
    queue: str


async def _visit(client: httpx.AsyncClient, name: str) -> Visit:
    """A fan made, charged, in line and admitted, through ``client``'s instance."""
    r = await client.post("/api/v1/users", json={"name": name})
    assert r.status_code == 201, r.text
    access = r.json()["accessToken"]
    r = await client.post(
        "/api/v1/wallet/charges",
        json={"amount": CHARGE},
        headers={"Authorization": f"Bearer {access}", "Idempotency-Key": f"charge-{name}"},
    )
    assert r.status_code == 200, r.text
    r = await client.post("/api/v1/queue/tokens", headers={"Authorization": f"Bearer {access}"})
    assert r.status_code in (200, 201), r.text
    assert r.json()["status"] == "ADMITTED", r.json()
    return Visit(access, r.json()["token"])


def _as(visit: Visit, *, queue: bool = True) -> dict[str, str]:
    return {"Authorization": f"Bearer {visit.queue if queue else visit.access}"}


async def _hold(client: httpx.AsyncClient, visit: Visit, schedule_id: int) -> httpx.Response:
    return await client.post(
        "/api/v1/reservations",
        json={"scheduleId": schedule_id, "seatNumber": 1},
        headers=_as(visit),
    )


async def _pay(client: httpx.AsyncClient, visit: Visit, reservation_id: int) -> httpx.Response:
    return await client.post(
        "/api/v1/payments",
        json={"reservationId": reservation_id},
        headers={**_as(visit), "Idempotency-Key": f"pay-{reservation_id}-{visit.queue[-8:]}"},
    )


async def _draw(client: httpx.AsyncClient, concert_id: int) -> dict[str, Any]:
    r = await client.get(f"/api/v1/admin/concerts/{concert_id}/waiting-room", headers=ADMIN)
    assert r.status_code == 200, r.text
    draw: dict[str, Any] = r.json()["draw"]
    return draw


async def _metric(client: httpx.AsyncClient, name: str) -> str:
    text = (await client.get("/metrics")).text
    return "\n".join(line for line in text.splitlines() if line.startswith(name))


@pytest.mark.parametrize("skew", [90, -90], ids=["ahead", "behind"])
async def test_a_skewed_instance_keeps_holds_and_the_seed_by_the_storage_clock(
    skew: int, launch: Launch
) -> None:
    instances = launch(b_env=skewed(skew), hold_seconds=str(HOLD_SECONDS[skew]))
    problems: list[str] = []
    async with (
        httpx.AsyncClient(base_url=instances["a"].url, timeout=10) as a,
        httpx.AsyncClient(base_url=instances["b"].url, timeout=10) as b,
    ):
        # The host's offset is exported, and b's shows the skew it runs under.
        offsets = await _metric(b, 'boxoffice_clock_offset_seconds{store="database"}')
        if not offsets or abs(float(offsets.split()[-1]) - skew) > 5:
            problems.append(f"b exports {offsets!r}, not an offset near {skew} s")
        way = "ahead of" if skew > 0 else "behind"
        if f"s {way} database's" not in instances["b"].log_path.read_text():
            problems.append(f"b's log does not say its clock is {way} the database's")
        # Its answers are dated by the storage's clock: the fan page counts holds by it.
        date = parsedate_to_datetime((await b.get("/healthz")).headers["date"])
        if abs((date - datetime.now(UTC)).total_seconds()) > 3:
            problems.append(f"b dates its answers {date}, by its host's clock")

        _, schedule_id = await make_show(a, seats=10)
        x = await _visit(a, "fan-x")
        held = await _hold(a, x, schedule_id)
        assert held.status_code == 201, held.text
        held_at, hold = time.monotonic(), held.json()
        rid = hold["reservationId"]

        # The opening of a second concert's own line, set through a.
        drawn_id, _ = await make_show(a, seats=10)
        opens_at = datetime.now(UTC) + timedelta(seconds=OPENS_IN)
        r = await a.put(
            f"/api/v1/admin/concerts/{drawn_id}/waiting-room",
            json={"salesOpenAt": opens_at.isoformat()},
            headers=ADMIN,
        )
        assert r.status_code == 200, r.text
        set_at = time.monotonic()
        seen = await _draw(b, drawn_id)
        if seen["seed"] is not None:
            problems.append(f"b revealed the seed {OPENS_IN:.0f} s before the opening")

        await asyncio.sleep(max(0.0, held_at + PAST_HOLD[skew] - time.monotonic()))
        alive = skew > 0  # ahead, the hold is still well inside heldUntil
        r = await b.get(f"/api/v1/reservations/{rid}", headers=_as(x, queue=False))
        want = "HELD" if alive else "EXPIRED"
        if r.status_code != 200 or r.json()["status"] != want:
            problems.append(f"b reads X's reservation as {r.status_code} {r.text}; want {want}")

        y = await _visit(b, "fan-y")
        taken = await _hold(b, y, schedule_id)
        want_taken = 409 if alive else 201
        if taken.status_code != want_taken:
            problems.append(
                f"Y's hold of X's seat through b: {taken.status_code} {taken.text}; "
                f"want {want_taken}"
            )
        paid = await _pay(b, x, rid)
        want_paid = 201 if alive else 409
        if paid.status_code != want_paid:
            problems.append(
                f"X's payment through b: {paid.status_code} {paid.text}; want {want_paid}"
            )

        # From the opening (and the tick that draws it), b shows the seed.
        await asyncio.sleep(max(0.0, set_at + OPENS_IN + 2.5 - time.monotonic()))
        seen = await _draw(b, drawn_id)
        if seen["seed"] is None:
            problems.append("b still hides the seed 2.5 s after the opening")

    assert not problems, "\n".join(problems)
