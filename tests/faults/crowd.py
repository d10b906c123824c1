"""Fans doing the whole flow (register, charge, join, poll, hold, pay) against two
instances while a fault is injected, and a record of every answer they got.

Every request is bounded: one that takes longer than ``TIMEOUT_SECONDS`` counts as a
hang. An answer is *normal* when it is 2xx, a 4xx problem with a code, or ``503``
problem ``busy`` with ``Retry-After``; anything else (a 500, a reset, a timeout)
breaks the rules, unless the scenario excuses it (a connection refused by an
instance it killed, which a fan answers by retrying on the other instance).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

TIMEOUT_SECONDS = 10.0
POLL_CAP_SECONDS = 1.0
PROBE_POLL_SECONDS = 0.2
RETRY_CAP_SECONDS = 1.0
ADMIN_TOKEN = "fault-suite-admin-token-0123456789abcdef"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
CHARGE = 5_000
PRICE = 100
SEATS = 5_000
SCENARIO_BOUND_SECONDS = 240.0
GATED = ("/api/v1/reservations", "/api/v1/payments", "/api/v1/concerts/{id}/schedules")


class Timeline:
    """When the fault began and ended, on the monotonic clock."""

    def __init__(self) -> None:
        self.origin = time.monotonic()
        self.started: float | None = None
        self.ended: float | None = None
        self.started_wall: datetime | None = None

    def begin(self) -> None:
        self.started = time.monotonic()
        self.started_wall = datetime.now(UTC)

    def end(self) -> None:
        self.ended = time.monotonic()

    def phase(self, at: float) -> str:
        if self.started is None or at < self.started:
            return "before"
        if self.ended is None or at < self.ended:
            return "during"
        return "after"

    def during(self, at: float) -> bool:
        return self.phase(at) == "during"

    def offset(self, at: float) -> float:
        return at - (self.started if self.started is not None else self.origin)


@dataclass(frozen=True, slots=True)
class Answer:
    sent_at: float
    seconds: float
    instance: str
    route: str
    status: int | None
    code: str | None  # the problem code, or for no answer at all what went wrong
    broken: str | None  # why the answer breaks the rules; None when it is normal
    excused: bool = False
    token_born: float | None = None  # when the queue token it carried was issued
    replayed: bool = False  # the first answer to this Idempotency-Key, given again

    @property
    def label(self) -> str:
        if self.status is None:
            return self.code or "no answer"
        return f"{self.status} {self.code}" if self.code else str(self.status)


@dataclass(slots=True)
class Sent:
    answer: Answer
    response: httpx.Response | None

    def json(self) -> Any:
        assert self.response is not None
        return self.response.json()

    @property
    def status(self) -> int | None:
        return self.answer.status


def route_of(method: str, path: str) -> str:
    """The route's template, so answers group by endpoint, not by id."""
    template = re.sub(r"/\d+", "/{id}", path.partition("?")[0])
    return f"{method} {template}"


def judge(r: httpx.Response) -> tuple[str | None, str | None]:
    """(problem code, what breaks the rules) for one HTTP answer."""
    problem = r.headers.get("content-type", "").startswith("application/problem+json")
    code: str | None = None
    if problem:
        with contextlib.suppress(ValueError):
            body = r.json()
            code = body.get("code") if isinstance(body, dict) else None
    if r.status_code < 400:
        return None, None
    if r.status_code == 503:
        if problem and code == "busy" and "retry-after" in r.headers:
            return code, None
        return code, f"503 that is not problem+json busy with Retry-After: {r.text[:160]}"
    if r.status_code >= 500:
        return code, f"{r.status_code}: {r.text[:160]}"
    if not code:
        return code, f"{r.status_code} without a problem body: {r.text[:160]}"
    return code, None


class Traffic:
    """HTTP to the named instances, each request bounded, every answer kept."""

    def __init__(self, urls: dict[str, str], timeline: Timeline) -> None:
        # Idle connections are dropped well before the server's keep-alive closes
        # them, so a request never goes out on a connection the server is closing.
        limits = httpx.Limits(
            max_connections=200, max_keepalive_connections=200, keepalive_expiry=1
        )
        self.clients = {
            name: httpx.AsyncClient(base_url=url, timeout=TIMEOUT_SECONDS + 5, limits=limits)
            for name, url in urls.items()
        }
        self.timeline = timeline
        self.answers: list[Answer] = []  # the fans'
        # Whether a request to ``instance`` sent at one moment that failed at another
        # without an answer is the scenario's own doing (an instance it killed).
        self.excuse: Callable[[str, float, float], bool] = lambda _instance, _sent, _failed: False

    def other(self, instance: str) -> str:
        return next(name for name in self.clients if name != instance)

    async def send(
        self,
        instance: str,
        method: str,
        path: str,
        *,
        token: str | None = None,
        token_born: float | None = None,
        json: object = None,
        headers: dict[str, str] | None = None,
        keep: bool = True,
    ) -> Sent:
        all_headers = dict(headers or {})
        if token:
            all_headers["Authorization"] = f"Bearer {token}"
        route = route_of(method, path)
        sent_at = time.monotonic()
        response: httpx.Response | None = None
        status: int | None
        code: str | None
        broken: str | None
        try:
            async with asyncio.timeout(TIMEOUT_SECONDS):
                response = await self.clients[instance].request(
                    method, path, json=json, headers=all_headers
                )
        except TimeoutError:
            status, code, broken = None, "timeout", f"no answer within {TIMEOUT_SECONDS:.0f} s"
        except httpx.TransportError as exc:
            status, code, broken = None, type(exc).__name__, f"{type(exc).__name__}: {exc}"
        else:
            status = response.status_code
            code, broken = judge(response)
        seconds = time.monotonic() - sent_at
        answer = Answer(
            sent_at=sent_at,
            seconds=seconds,
            instance=instance,
            route=route,
            status=status,
            code=code,
            broken=broken,
            excused=status is None
            and code != "timeout"
            and self.excuse(instance, sent_at, sent_at + seconds),
            token_born=token_born,
            replayed=response is not None and "idempotent-replayed" in response.headers,
        )
        if keep:
            self.answers.append(answer)
        return Sent(answer, response)

    async def close(self) -> None:
        for client in self.clients.values():
            await client.aclose()


@dataclass(slots=True)
class Fan:
    name: str
    home: str
    user_id: int = 0
    access: str = ""
    charges: int = 0
    queue: str = ""
    queue_born: float = 0.0
    state: str = ""
    position: int = 0
    poll_after: float = 1.0
    lost_token: bool = False
    retried: bool = False  # the last step met a 503 or no answer before its answer
    done: bool = False
    reservation: int | None = None
    seat_id: int | None = None
    tokens: list[tuple[str, float]] = field(default_factory=list)  # every token, when issued
    statuses: list[tuple[float, str, int]] = field(default_factory=list)  # (at, state, position)
    answers: list[Answer] = field(default_factory=list)  # every answer this fan got


@dataclass(frozen=True, slots=True)
class Sample:
    """One answer of a watcher (health, readiness, the operator's view)."""

    answer: Answer
    body: Any


class Crowd:
    """The fans, the probes that measure recovery, and the watchers."""

    def __init__(self, traffic: Traffic, *, schedule_id: int, concert_id: int) -> None:
        self.traffic = traffic
        self.schedule_id = schedule_id
        self.concert_id = concert_id
        self.seats: Iterator[int] = itertools.count(1)
        self.fans: list[Fan] = []
        self.paid: list[dict[str, Any]] = []  # every 201 payment body, with its seatId
        # Every write answered 2xx, as (what, body): "user", "charge", "hold", "payment".
        self.acknowledged: list[tuple[str, dict[str, Any]]] = []
        self.odd: list[str] = []  # answers a fan doing the flow should never get
        self.violations: list[str] = []
        self.lost: list[tuple[float, str, Answer]] = []  # (at, fan, answer) for each 401
        self.samples: dict[tuple[str, str], list[Sample]] = {}
        self.probe_failures: dict[str, str] = {}
        self.capacity: int | None = None  # as the operator last set it, if they did
        # A fan stops retrying past this instant, so no scenario can wait forever.
        self.give_up_at = time.monotonic() + SCENARIO_BOUND_SECONDS
        self.stopping = asyncio.Event()
        self.shopping = asyncio.Event()  # cleared: admitted fans wait before holding
        self.shopping.set()
        self._tasks: list[asyncio.Task[None]] = []
        self._probes = itertools.count(1)

    # -- the fans -------------------------------------------------------------------

    def add_fans(self, count: int, *, prefix: str = "fan") -> list[Fan]:
        names = list(self.traffic.clients)
        made = [Fan(name=f"{prefix}{i}", home=names[i % len(names)]) for i in range(count)]
        self.fans += made
        return made

    def start(self, fans: list[Fan]) -> None:
        self._tasks += [asyncio.create_task(self.visit(fan)) for fan in fans]

    def watch(self, instance: str, path: str, *, every: float, admin: bool = False) -> None:
        self._tasks.append(asyncio.create_task(self._watch(instance, path, every, admin)))

    async def stop(self) -> None:
        self.stopping.set()
        self.shopping.set()
        done, pending = await asyncio.wait(self._tasks, timeout=TIMEOUT_SECONDS + 5)
        for task in pending:
            task.cancel()
            self.violations.append("a fan was still busy 15 s after the load was stopped")
        for task in done:
            error = task.exception()
            if error is not None:
                raise error
        self._tasks = []
        self.stopping.clear()  # what a scenario does next, step by step, may use the fans

    async def nap(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), timeout=max(0.0, seconds))

    def _note(self, fan: Fan, sent: Sent) -> None:
        self.odd.append(f"{fan.name}: {sent.answer.route} -> {sent.answer.label}")

    async def ask(self, fan: Fan, method: str, path: str, **kw: Any) -> Sent:
        """On the fan's instance; if it gives no answer at all, once more on the other."""
        sent = await self.traffic.send(fan.home, method, path, **kw)
        fan.answers.append(sent.answer)
        if sent.response is None and not self.stopping.is_set():
            sent = await self.traffic.send(self.traffic.other(fan.home), method, path, **kw)
            fan.answers.append(sent.answer)
        return sent

    async def step(self, fan: Fan, method: str, path: str, **kw: Any) -> Sent | None:
        """Until an answer other than 503 busy (which is waited out as told), or the
        last answer once ``give_up_at`` has passed."""
        while not self.stopping.is_set():
            sent = await self.ask(fan, method, path, **kw)
            if time.monotonic() > self.give_up_at:
                return sent
            if sent.response is None or sent.status == 503:
                fan.retried = True
            if sent.response is None:
                await self.nap(0.2)
                continue
            if sent.status == 503:
                retry = sent.response.headers.get("retry-after", "1")
                await self.nap(min(float(retry) if retry.isdigit() else 1.0, RETRY_CAP_SECONDS))
                continue
            return sent
        return None

    async def visit(self, fan: Fan) -> None:
        if not fan.access and not await self.enrol(fan):
            return
        while not self.stopping.is_set() and not fan.done:
            if not fan.queue and not await self.join(fan):
                continue
            if not await self.wait_admitted(fan):
                continue
            await self.shopping.wait()
            if self.stopping.is_set():
                return
            if fan.reservation is None and not await self.hold(fan):
                continue
            await self.pay(fan)

    async def enrol(self, fan: Fan) -> bool:
        sent = await self.step(fan, "POST", "/api/v1/users", json={"name": fan.name})
        if sent is None:
            return False
        if sent.status != 201:
            self._note(fan, sent)
            return False
        fan.user_id, fan.access = sent.json()["userId"], sent.json()["accessToken"]
        self.acknowledged.append(("user", {"userId": fan.user_id, "name": fan.name}))
        return await self.charge(fan)

    async def charge(self, fan: Fan) -> bool:
        fan.charges += 1
        sent = await self.step(
            fan,
            "POST",
            "/api/v1/wallet/charges",
            token=fan.access,
            json={"amount": CHARGE},
            headers={"Idempotency-Key": f"charge-{fan.name}-{fan.charges}"},
        )
        if sent is not None and sent.status != 200:
            self._note(fan, sent)
        if sent is not None and sent.status == 200:
            self.acknowledged.append(("charge", sent.json()))
        return sent is not None and sent.status == 200

    async def join(self, fan: Fan) -> bool:
        fan.retried = False
        sent = await self.step(fan, "POST", "/api/v1/queue/tokens", token=fan.access)
        if sent is None:
            return False
        if sent.status not in (200, 201):
            self._note(fan, sent)
            await self.nap(1)
            return False
        # (After a 503 the join may have gone through unanswered: then 200 is right.)
        if fan.lost_token and sent.status != 201 and not fan.retried:
            self.violations.append(
                f"{fan.name} joined again after its ticket vanished and was answered "
                f"{sent.status} (an old place), not 201"
            )
        body = sent.json()
        fan.lost_token = False
        fan.queue, fan.queue_born = body["token"], time.monotonic()
        fan.tokens.append((fan.queue, fan.queue_born))
        self._saw(fan, body)
        return True

    def _saw(self, fan: Fan, body: dict[str, Any]) -> None:
        fan.state, fan.position = body["status"], body["position"]
        fan.poll_after = float(body["pollAfterSeconds"])
        fan.statuses.append((time.monotonic(), fan.state, fan.position))

    def _lose(self, fan: Fan, sent: Sent) -> None:
        if sent.answer.code != "token_expired":
            self._note(fan, sent)
        self.lost.append((sent.answer.sent_at, fan.name, sent.answer))
        fan.lost_token, fan.queue, fan.state = True, "", ""

    async def poll(self, fan: Fan) -> Sent | None:
        sent = await self.step(
            fan, "GET", "/api/v1/queue/status", token=fan.queue, token_born=fan.queue_born
        )
        if sent is None:
            return None
        if sent.status == 200:
            self._saw(fan, sent.json())
        elif sent.status == 401:
            self._lose(fan, sent)
        else:
            self._note(fan, sent)
        return sent

    async def wait_admitted(self, fan: Fan) -> bool:
        while fan.state != "ADMITTED":
            await self.nap(min(fan.poll_after, POLL_CAP_SECONDS))
            sent = await self.poll(fan)
            if sent is None or sent.status != 200:
                return False
        return True

    async def hold(self, fan: Fan) -> bool:
        while not self.stopping.is_set():
            sent = await self.step(
                fan,
                "POST",
                "/api/v1/reservations",
                token=fan.queue,
                token_born=fan.queue_born,
                json={"scheduleId": self.schedule_id, "seatNumber": next(self.seats)},
            )
            if sent is None:
                return False
            if sent.status == 201:
                fan.reservation, fan.seat_id = sent.json()["reservationId"], sent.json()["seatId"]
                self.acknowledged.append(("hold", sent.json()))
                return True
            if sent.answer.code == "seat_unavailable":
                continue
            if sent.answer.code == "hold_limit_reached":
                # Holds that went through unanswered (a 503 after the commit) lapse by
                # themselves; this fan gives up its place and goes home.
                await self.step(fan, "DELETE", "/api/v1/queue/tokens/current", token=fan.queue)
                fan.done = True
                return False
            if sent.status == 403:
                fan.state = "WAITING"
            elif sent.status == 401:
                self._lose(fan, sent)
            else:
                self._note(fan, sent)
                await self.nap(1)
            return False
        return False

    async def pay(self, fan: Fan) -> None:
        while not self.stopping.is_set():
            sent = await self.step(
                fan,
                "POST",
                "/api/v1/payments",
                token=fan.queue,
                token_born=fan.queue_born,
                json={"reservationId": fan.reservation},
                headers={"Idempotency-Key": f"pay-{fan.reservation}"},
            )
            if sent is None:
                return
            if sent.status == 201:
                self.paid.append({**sent.json(), "seatId": fan.seat_id})
                self.acknowledged.append(("payment", sent.json()))
                # The visit is over: the queue token is spent. The next visit goes
                # through the other instance, so each fan's visits see both.
                fan.reservation, fan.queue, fan.state = None, "", ""
                fan.home = self.traffic.other(fan.home)
                return
            if sent.status == 402 and await self.charge(fan):
                continue
            if sent.answer.code == "hold_expired":
                fan.reservation = None
            elif sent.status == 403:
                fan.state = "WAITING"
            elif sent.status == 401:
                self._lose(fan, sent)  # the hold stays: paid after joining again
            else:
                self._note(fan, sent)
                fan.reservation = None
            return

    # -- probes: one whole visit on one instance, every answer 2xx ------------------

    async def round(self, instance: str, *, deadline: float) -> bool:
        send = self.traffic.send
        name = f"probe-{instance}-{next(self._probes)}"

        def fail(sent: Sent) -> bool:
            self.probe_failures[instance] = f"{sent.answer.route} -> {sent.answer.label}"
            return False

        sent = await send(instance, "POST", "/api/v1/users", json={"name": name})
        if sent.status != 201:
            return fail(sent)
        access = sent.json()["accessToken"]
        self.acknowledged.append(("user", {"userId": sent.json()["userId"], "name": name}))
        sent = await send(
            instance,
            "POST",
            "/api/v1/wallet/charges",
            token=access,
            json={"amount": CHARGE},
            headers={"Idempotency-Key": f"charge-{name}"},
        )
        if sent.status != 200:
            return fail(sent)
        self.acknowledged.append(("charge", sent.json()))
        sent = await send(instance, "POST", "/api/v1/queue/tokens", token=access)
        if sent.status not in (200, 201):
            return fail(sent)
        queue, born, state = sent.json()["token"], time.monotonic(), sent.json()["status"]
        while state != "ADMITTED":
            if time.monotonic() > deadline:
                self.probe_failures[instance] = "still WAITING at the recovery bound"
                return False
            await asyncio.sleep(PROBE_POLL_SECONDS)
            sent = await send(instance, "GET", "/api/v1/queue/status", token=queue, token_born=born)
            if sent.status != 200:
                return fail(sent)
            state = sent.json()["status"]
        sent = await send(
            instance,
            "POST",
            "/api/v1/reservations",
            token=queue,
            token_born=born,
            json={"scheduleId": self.schedule_id, "seatNumber": next(self.seats)},
        )
        if sent.status != 201:
            return fail(sent)
        held = sent.json()
        self.acknowledged.append(("hold", held))
        sent = await send(
            instance,
            "POST",
            "/api/v1/payments",
            token=queue,
            token_born=born,
            json={"reservationId": held["reservationId"]},
            headers={"Idempotency-Key": f"pay-{name}"},
        )
        if sent.status != 201:
            return fail(sent)
        self.paid.append({**sent.json(), "seatId": held["seatId"]})
        self.acknowledged.append(("payment", sent.json()))
        return True

    async def recover(self, *, since: float, bound: float) -> dict[str, float | None]:
        """Seconds from ``since`` to the end of the first fully successful round on
        each instance, trying round after round; None where none succeeded in time."""
        deadline = since + bound

        async def first_round(instance: str) -> float | None:
            while time.monotonic() < deadline:
                if await self.round(instance, deadline=deadline):
                    return time.monotonic() - since
                await asyncio.sleep(PROBE_POLL_SECONDS)
            return None

        names = list(self.traffic.clients)
        found = await asyncio.gather(*(first_round(name) for name in names))
        return dict(zip(names, found, strict=True))

    # -- watchers --------------------------------------------------------------------

    async def _watch(self, instance: str, path: str, every: float, admin: bool) -> None:
        kept = self.samples.setdefault((instance, path), [])
        while not self.stopping.is_set():
            sent = await self.traffic.send(
                instance, "GET", path, headers=ADMIN if admin else None, keep=False
            )
            body: Any = None
            if sent.response is not None:
                with contextlib.suppress(ValueError):
                    body = sent.response.json()
            kept.append(Sample(sent.answer, body))
            # The operator's latest setting, when the scenario made one: an instance's
            # view may show the capacity it read a second ago next to live counts.
            if admin and sent.status == 200 and isinstance(body, dict):
                capacity = body.get("capacity") if self.capacity is None else self.capacity
                admitted = body.get("admitted")
                if isinstance(capacity, int) and isinstance(admitted, int) and admitted > capacity:
                    self.violations.append(
                        f"{instance}'s waiting-room view: {admitted} admitted "
                        f"with capacity {capacity}"
                    )
            await self.nap(every)

    def counts(self, phase: str) -> dict[str, int]:
        """The fans' answers sent in one phase of the fault, by status and code."""
        found = Counter(
            f"{a.label} (retried on the other)" if a.excused else a.label
            for a in self.traffic.answers
            if self.traffic.timeline.phase(a.sent_at) == phase
        )
        return dict(sorted(found.items()))


async def make_show(client: httpx.AsyncClient, *, seats: int = SEATS) -> tuple[int, int]:
    """A concert with one schedule a month out; (concert id, schedule id)."""
    r = await client.post(
        "/api/v1/admin/concerts", json={"title": "Fault night", "venue": "Hall"}, headers=ADMIN
    )
    assert r.status_code == 201, r.text
    concert_id = r.json()["concertId"]
    at = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    r = await client.post(
        f"/api/v1/admin/concerts/{concert_id}/schedules",
        json={"concertAt": at, "seatCount": seats, "price": PRICE},
        headers=ADMIN,
    )
    assert r.status_code == 201, r.text
    return concert_id, r.json()["scheduleId"]
