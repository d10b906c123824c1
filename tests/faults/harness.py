"""One fault scenario from start to verdict: the load, the fault's timeline, the
recovery measurement, and every check afterwards, gathered into one record.

A scenario collects what it finds in ``problems`` instead of stopping at the first
broken expectation, so its record (and the failure message) says everything that
went wrong in that run.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from boxoffice.storage.audit import audit
from boxoffice.storage.db import Database
from boxoffice.storage.tables import payments, wallet_transactions
from tests.faults.crowd import (
    ADMIN,
    ADMIN_TOKEN,
    Crowd,
    Sample,
    Sent,
    Timeline,
    Traffic,
    make_show,
)
from tests.integration.instances import Instance, instance_env

FANS = 24
CAPACITY = 50  # the instances' configured default; scenarios set their own live
RECOVERY_BOUND_SECONDS = 30.0
SETTLE_SECONDS = 2.0
WARM_PAYMENTS = 10
REPO = Path(__file__).resolve().parents[2]


def fault_env(*, database_url: str, redis_url: str, **extra: str) -> dict[str, str]:
    """The production shape, with the line's timings set explicitly."""
    settings = {
        "admin_token": ADMIN_TOKEN,
        "admission_capacity": str(CAPACITY),
        "admission_per_minute": "100000",
        "waiter_timeout_seconds": "60",
        "admitted_idle_seconds": "600",
        "hold_seconds": "300",
        **extra,
    }
    return instance_env(
        database_url=database_url,
        redis_url=redis_url,
        redis_prefix="boxoffice-faults:",
        **settings,
    )


def measured_commit() -> str:
    def git(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True)

    head = git("rev-parse", "--short=12", "HEAD")
    if head.returncode != 0:
        return "unknown"
    dirty = git("diff", "--quiet", "HEAD", "--", "src").returncode != 0
    return head.stdout.strip() + ("+uncommitted src changes" if dirty else "")


def ready_label(sample: Sample) -> str:
    """A /readyz answer as the operator reads it: ``503 waitingRoom=unreachable``."""
    checks = sample.body.get("checks") if isinstance(sample.body, dict) else None
    if sample.answer.status == 503 and isinstance(checks, dict):
        failing = ",".join(f"{k}={v}" for k, v in sorted(checks.items()) if v != "ok")
        return f"503 {failing or 'no check failing'}"
    return sample.answer.label


def ready_shape_ok(sample: Sample) -> bool:
    """200 ready, or 503 problem busy with a ``checks`` member; nothing else."""
    body, status = sample.body, sample.answer.status
    if status == 200:
        return isinstance(body, dict) and body.get("status") == "ready"
    return (
        status == 503
        and sample.answer.code == "busy"
        and isinstance(body, dict)
        and isinstance(body.get("checks"), dict)
    )


def log_excerpts(path: Path, limit: int = 8) -> list[str]:
    """The distinct warning and error lines of an instance's log, most frequent first."""
    if not path.exists():
        return []
    seen: Counter[str] = Counter()
    for line in path.read_text(errors="replace").splitlines():
        if re.search(r"WARNING|ERROR|CRITICAL|Traceback|Error:|\" 5\d\d ", line):
            seen[re.sub(r"\d+", "N", line.strip())[:220]] += 1
    return [f"{n} x {line}" for line, n in seen.most_common(limit)]


class FaultRun:
    def __init__(
        self,
        *,
        fault: str,
        instances: dict[str, Instance],
        database_url: str,
        record: dict[str, Any],
        dependency: str | None,
        tokens_may_vanish: bool = False,
        writes_may_be_lost: bool = False,
    ) -> None:
        self.fault = fault
        self.instances = instances
        self.database_url = database_url
        self.record = record
        self.dependency = dependency  # what /readyz must name during the fault
        self.tokens_may_vanish = tokens_may_vanish
        # A failover to a replica that was behind: acknowledged writes may be gone, and
        # fans then meet what follows from that (a hold that no longer exists). Those
        # are counted, not failed; the audit, 5xx and hangs still fail the run.
        self.writes_may_be_lost = writes_may_be_lost
        self.timeline = Timeline()
        self.traffic = Traffic({n: i.url for n, i in instances.items()}, self.timeline)
        self.problems: list[str] = []
        self.recovery: dict[str, float | None] = {}
        self.recovered_at: float | None = None
        self.crowd: Crowd

    async def prepare(self) -> None:
        concert_id, schedule_id = await make_show(self.traffic.clients["a"])
        self.crowd = Crowd(self.traffic, schedule_id=schedule_id, concert_id=concert_id)

    def watch(self, names: list[str] | None = None) -> None:
        for name in names or list(self.instances):
            self.crowd.watch(name, "/healthz", every=0.25)
            self.crowd.watch(name, "/readyz", every=0.25)
            self.crowd.watch(name, "/api/v1/admin/waiting-room", every=0.5, admin=True)

    async def start(self, fans: int = FANS) -> None:
        """The show, the watchers, and the crowd doing the flow on both instances."""
        await self.prepare()
        self.watch()
        self.crowd.start(self.crowd.add_fans(fans))

    async def admin(self, instance: str, method: str = "GET", body: object = None) -> Sent:
        return await self.traffic.send(
            instance, method, "/api/v1/admin/waiting-room", json=body, headers=ADMIN, keep=False
        )

    async def configure(self, instance: str, **settings: object) -> bool:
        """The operator changes the waiting room; a refusal is one of the problems."""
        if isinstance(settings.get("capacity"), int):
            self.crowd.capacity = int(settings["capacity"])  # type: ignore[call-overload]
        sent = await self.admin(instance, "PATCH", settings)
        if sent.status != 200:
            self.problems.append(
                f"PATCH /admin/waiting-room {settings} on {instance}: {sent.answer.label}"
            )
        return sent.status == 200

    async def warm_up(self, *, payments: int = WARM_PAYMENTS, bound: float = 30) -> None:
        deadline = time.monotonic() + bound
        while time.monotonic() < deadline:
            if len(self.crowd.paid) >= payments:
                return
            await asyncio.sleep(0.1)
        if len(self.crowd.paid) < payments:
            self.problems.append(
                f"before the fault the load paid for only {len(self.crowd.paid)} seats "
                f"in {bound:.0f} s"
            )

    async def hold_fault(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    async def recover(self) -> None:
        """From the end of the fault, nobody touching anything, until a whole visit
        succeeds on each instance (or the bound passes)."""
        assert self.timeline.ended is not None
        self.recovery = await self.crowd.recover(
            since=self.timeline.ended, bound=RECOVERY_BOUND_SECONDS
        )
        if all(v is not None for v in self.recovery.values()):
            worst = max(v for v in self.recovery.values() if v is not None)
            self.recovered_at = self.timeline.ended + worst
        else:
            stuck = {
                n: self.crowd.probe_failures.get(n) for n, v in self.recovery.items() if v is None
            }
            self.problems.append(
                f"no fully successful visit within {RECOVERY_BOUND_SECONDS:.0f} s after the "
                f"fault on {', '.join(stuck)}; last answers that failed a round: {stuck}"
            )

    async def settle(self) -> None:
        """Keep the load going a little after recovery: service must be whole again."""
        if self.recovered_at is not None:
            await asyncio.sleep(SETTLE_SECONDS)

    async def stop(self) -> None:
        await self.crowd.stop()

    # -- checks -----------------------------------------------------------------------

    def check_answers(self) -> None:
        answers = self.traffic.answers
        during = [a for a in answers if self.timeline.during(a.sent_at)]
        if not during:
            self.problems.append("no fan request was sent during the fault")
        broken = [a for a in answers if a.broken and not a.excused]
        if broken:
            kinds = Counter(
                f"{a.route} on {a.instance} ({self.timeline.phase(a.sent_at)}): {a.label}"
                for a in broken
            )
            listed = "; ".join(f"{k} x{n}" for k, n in kinds.most_common(8))
            self.problems.append(
                f"{len(broken)} fan answers were a 500, a reset or a hang: {listed}; "
                f"first: {broken[0].broken}"
            )
        if self.crowd.odd and self.writes_may_be_lost:
            self.record["odd_answers"] = dict(Counter(self.crowd.odd).most_common(6))
        elif self.crowd.odd:
            kinds = Counter(self.crowd.odd)
            self.problems.append(
                "answers the flow never expects: "
                + "; ".join(f"{k} x{n}" for k, n in kinds.most_common(6))
            )
        self.problems += self.crowd.violations
        if self.crowd.lost and not self.tokens_may_vanish:
            at, fan, answer = self.crowd.lost[0]
            self.problems.append(
                f"{len(self.crowd.lost)} times a fan was told its queue token was no longer "
                f"live though the line was never lost; first {fan} at "
                f"{self.timeline.offset(at):+.1f} s: {answer.route} on {answer.instance} "
                f"-> {answer.label}; what {fan} was answered before: {self._story(fan)}"
            )

    def _story(self, name: str) -> str:
        """One fan's last answers in order, each with its offset from the fault."""
        fan = next(f for f in self.crowd.fans if f.name == name)
        return ", ".join(
            f"{self.timeline.offset(a.sent_at):+.1f}s {a.route} on {a.instance} -> {a.label}"
            + (" (replayed)" if a.replayed else "")
            for a in fan.answers[-30:]
        )

    def samples(self, instance: str, path: str) -> list[Sample]:
        return self.crowd.samples.get((instance, path), [])

    async def check_readiness(self) -> None:
        for name in self.instances:
            health = [s for s in self.samples(name, "/healthz") if not s.answer.excused]
            bad = Counter(s.answer.label for s in health if s.answer.status != 200)
            if bad:
                self.problems.append(f"/healthz on {name} answered {dict(bad)}: it must stay 200")
            ready = [s for s in self.samples(name, "/readyz") if not s.answer.excused]
            malformed = Counter(ready_label(s) for s in ready if not ready_shape_ok(s))
            if malformed:
                self.problems.append(
                    f"/readyz on {name} answered {dict(malformed)}: only 200 ready or 503 busy "
                    "with its checks"
                )
            during = Counter(
                ready_label(s) for s in ready if self.timeline.during(s.answer.sent_at)
            )
            wanted = f"{self.dependency}=unreachable"
            if self.dependency is not None and not any(wanted in label for label in during):
                self.problems.append(
                    f"/readyz on {name} never answered 503 with {wanted} during the fault; "
                    f"it answered {dict(during)}"
                )
            if self.dependency is None:
                unready = Counter(ready_label(s) for s in ready if s.answer.status != 200)
                if unready:
                    self.problems.append(
                        f"/readyz on {name} answered {dict(unready)} though its storage was fine"
                    )
            final = await self.traffic.send(name, "GET", "/readyz", keep=False)
            body = final.json() if final.response is not None else None
            checks = body.get("checks") if isinstance(body, dict) else None
            if not (
                final.status == 200
                and isinstance(checks, dict)
                and checks.get("database") == "ok"
                and checks.get("waitingRoom") == "ok"
            ):
                self.problems.append(
                    f"/readyz on {name} after recovery: {final.answer.label} {body} "
                    "(want 200 with database and waitingRoom ok)"
                )
            self.record.setdefault("readyz_during", {})[name] = dict(during)

    async def check_storage(self) -> None:
        db = Database(self.database_url)
        try:
            found = await audit(db)
            async with db.core.connect() as conn:
                stored = {
                    row.id: (row.reservation_id, row.user_id, row.amount)
                    for row in await conn.execute(
                        select(
                            payments.c.id,
                            payments.c.reservation_id,
                            payments.c.user_id,
                            payments.c.amount,
                        )
                    )
                }
                applied_twice = (
                    await conn.execute(
                        select(wallet_transactions.c.reservation_id, func.count())
                        .where(wallet_transactions.c.type == "PAYMENT")
                        .group_by(wallet_transactions.c.reservation_id)
                        .having(func.count() > 1)
                    )
                ).all()
        finally:
            await db.dispose()
        self.record["audit"] = found
        self.problems += [f"audit: {line}" for line in found]
        paid = self.crowd.paid
        lost = [
            p
            for p in paid
            if stored.get(p["paymentId"]) != (p["reservationId"], p["userId"], p["amount"])
        ]
        if lost and self.writes_may_be_lost:
            self.record["payments_lost"] = len(lost)
            paid = [p for p in paid if p not in lost]
        elif lost:
            self.problems.append(
                f"{len(lost)} payments answered 201 are not in the database as answered: {lost[:3]}"
            )
        by_reservation: dict[int, set[int]] = {}
        for p in paid:
            by_reservation.setdefault(p["reservationId"], set()).add(p["paymentId"])
        twice = {r: ids for r, ids in by_reservation.items() if len(ids) > 1}
        if twice or applied_twice:
            self.problems.append(
                f"payments applied twice: answered {twice}, "
                f"ledger {[tuple(r) for r in applied_twice]}"
            )
        seat_sales = Counter(p["seatId"] for p in paid)
        resold = [seat for seat, n in seat_sales.items() if n > 1]
        if resold:
            self.problems.append(f"seats sold twice to fans: {resold[:10]}")
        self.record["payments_acknowledged"] = len(self.crowd.paid)

    async def metrics(self) -> dict[str, dict[str, int]]:
        """Requests by status as each instance's /metrics counts them."""
        counted: dict[str, dict[str, int]] = {}
        for name in self.instances:
            sent = await self.traffic.send(name, "GET", "/metrics", keep=False)
            if sent.response is None or sent.status != 200:
                counted[name] = {"/metrics": sent.status or 0}
                continue
            totals: Counter[str] = Counter()
            for match in re.finditer(
                r'^boxoffice_http_requests_total\{[^}]*status="(\d+)"[^}]*\} (\S+)$',
                sent.response.text,
                re.MULTILINE,
            ):
                totals[match.group(1)] += int(float(match.group(2)))
            counted[name] = dict(sorted(totals.items()))
        return counted

    async def conclude(self) -> None:
        """Every common check, and the record for the report."""
        self.check_answers()
        await self.check_readiness()
        await self.check_storage()
        answers = self.traffic.answers
        slowest = max(answers, key=lambda a: a.seconds, default=None)
        worst = max((v for v in self.recovery.values() if v is not None), default=None)
        self.record.update(
            {
                "fault": self.fault,
                "commit": measured_commit(),
                "during": self.crowd.counts("during"),
                "after": self.crowd.counts("after"),
                "answers": len(answers),
                "broken": sum(1 for a in answers if a.broken and not a.excused),
                "failed_over": sum(1 for a in answers if a.excused),
                "slowest_seconds": round(slowest.seconds, 3) if slowest else None,
                "slowest": (
                    f"{slowest.route} on {slowest.instance} "
                    f"({self.timeline.phase(slowest.sent_at)}): {slowest.label}"
                    if slowest
                    else None
                ),
                "fault_seconds": (
                    round(self.timeline.ended - self.timeline.started, 2)
                    if self.timeline.started is not None and self.timeline.ended is not None
                    else None
                ),
                "recovery_seconds": (
                    round(worst, 2) if worst is not None and self.recovered_at else None
                ),
                "recovery_by_instance": {
                    n: None if v is None else round(v, 2) for n, v in self.recovery.items()
                },
                "lost_tokens": len(self.crowd.lost),
                "metrics": await self.metrics(),
                "log_lines": {n: log_excerpts(i.log_path) for n, i in self.instances.items()},
                "problems": self.problems,
            }
        )
        await self.traffic.close()

    def verdict(self) -> None:
        assert not self.problems, "\n".join(["what went wrong:", *self.problems])
