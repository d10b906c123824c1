"""Set-up a benchmark needs before the clock starts: fans, wallets, a catalog, and
the files of prepared requests that wrk sends."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NamedTuple

import httpx
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from boxoffice.storage.db import Database
from boxoffice.storage.tables import users, wallet_transactions, wallets
from boxoffice.tokens import TokenSigner
from boxoffice_bench.server import ADMIN_TOKEN, SECRET_KEY

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
FANS_PER_STATEMENT = 20_000


class Request(NamedTuple):
    """One line of a prepared file for wrk (requests.lua): a bearer token, and an
    ``Idempotency-Key`` and a JSON body where the request has them."""

    token: str
    key: str = ""
    body: str = ""


async def make_fans(database_url: str, count: int, *, balance: int = 0) -> list[tuple[int, str]]:
    """``count`` registered fans with ``balance`` points each (ledger included), and
    their access tokens, written straight to the database: registration is not what
    is being measured."""
    now = datetime.now(UTC)
    db = Database(database_url)
    try:
        async with db.core.begin() as conn:
            first = (
                await conn.execute(select(users.c.id).order_by(users.c.id.desc()).limit(1))
            ).scalar()
            start = int(first or 0) + 1
            ids = list(range(start, start + count))
            # In slices: one statement of a few hundred thousand rows outlasts the
            # database's statement timeout on a slow machine.
            for at in range(0, count, FANS_PER_STATEMENT):
                part = ids[at : at + FANS_PER_STATEMENT]
                await _add_fans(conn, part, balance=balance, now=now)
            if not db.is_sqlite:
                await conn.exec_driver_sql(
                    "SELECT setval(pg_get_serial_sequence('users', 'id'), "
                    "(SELECT max(id) FROM users))"
                )
    finally:
        await db.dispose()
    signer = TokenSigner(SECRET_KEY)
    ttl = timedelta(days=1)
    return [(i, signer.access_token(user_id=i, now=now, ttl=ttl)) for i in ids]


async def _add_fans(conn: AsyncConnection, ids: list[int], *, balance: int, now: datetime) -> None:
    await conn.execute(
        insert(users), [{"id": i, "name": f"fan{i}", "created_at": now} for i in ids]
    )
    await conn.execute(insert(wallets), [{"user_id": i, "balance": balance} for i in ids])
    if balance:
        charge = {"type": "CHARGE", "amount": balance, "balance_after": balance}
        await conn.execute(
            insert(wallet_transactions),
            [{"user_id": i, **charge, "created_at": now} for i in ids],
        )


def write_requests(path: Path, requests: Iterable[Request]) -> Path:
    path.write_text("".join(f"{r.token}\t{r.key}\t{r.body}\n" for r in requests))
    return path


def make_concert(base_url: str, *, schedules: int, seats: int, price: int) -> tuple[int, list[int]]:
    with httpx.Client(base_url=base_url, headers=ADMIN, timeout=60) as client:
        r = client.post("/api/v1/admin/concerts", json={"title": "Drop", "venue": "Bench Hall"})
        r.raise_for_status()
        concert_id = r.json()["concertId"]
        at = datetime.now(UTC) + timedelta(days=30)
        ids = []
        for n in range(schedules):
            r = client.post(
                f"/api/v1/admin/concerts/{concert_id}/schedules",
                json={
                    "concertAt": (at + timedelta(hours=n)).isoformat(),
                    "seatCount": seats,
                    "price": price,
                },
            )
            r.raise_for_status()
            ids.append(r.json()["scheduleId"])
    return concert_id, ids
