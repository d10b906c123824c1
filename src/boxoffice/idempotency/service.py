"""Apply a request once per Idempotency-Key and replay its answer to every retry.

The key is written in the same transaction as the change it guards, so either both
land or neither does. Two first attempts racing on one key collide on the primary
key; the loser's transaction rolls back whole and it replays the winner's answer.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import TypeAdapter

from boxoffice.errors import DomainError, IdempotencyKeyReused
from boxoffice.idempotency import repository
from boxoffice.idempotency.repository import Remember
from boxoffice.storage.db import Database
from boxoffice.storage.errors import Conflict
from boxoffice.storage.query import Conn

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Outcome(Generic[T]):
    value: T
    status_code: int
    replayed: bool


def fingerprint(scope: str, request: dict[str, Any]) -> str:
    canonical = json.dumps({"scope": scope, "request": request}, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def replay(
    conn: Conn,
    *,
    user_id: int,
    key: str,
    request_fingerprint: str,
    adapter: TypeAdapter[T],
) -> Outcome[T] | None:
    found = await repository.find(conn, user_id=user_id, key=key)
    if found is None:
        return None
    if found.fingerprint != request_fingerprint:
        raise IdempotencyKeyReused("this Idempotency-Key was used for a different request")
    return Outcome(adapter.validate_json(found.body), found.status_code, replayed=True)


async def find(
    db: Database, *, user_id: int, key: str, request_fingerprint: str, adapter: TypeAdapter[T]
) -> Outcome[T] | None:
    async with db.statement() as conn:
        return await replay(
            conn, user_id=user_id, key=key, request_fingerprint=request_fingerprint, adapter=adapter
        )


@dataclass(frozen=True, slots=True)
class Keyed(Generic[T]):
    """A request that may carry an Idempotency-Key: whose it is, the key, what the
    request was (its fingerprint), and how its answer is stored and read back."""

    user_id: int
    key: str | None
    fingerprint: str
    status_code: int
    adapter: TypeAdapter[T]

    @property
    def remember(self) -> Remember | None:
        """What a use case that remembers its own answer is handed (None: no key)."""
        if self.key is None:
            return None
        return Remember(self.key, self.fingerprint, status_code=self.status_code)


async def run_once(
    db: Database, request: Keyed[T], *, now: datetime, action: Callable[[Conn], Awaitable[T]]
) -> Outcome[T]:
    """``action`` once per key. It is simply run, and its answer remembered under the
    key in the same transaction, so a first request costs no extra round trip. A
    retry of a request that succeeded either fails on its own (a paid hold cannot be
    paid again) or collides with the remembered key, which rolls it back whole; then,
    as when two first attempts race, the first answer is replayed."""

    async def once(conn: Conn) -> Outcome[T]:
        value = await action(conn)
        if request.remember is not None:
            body = request.adapter.dump_json(value).decode()
            await repository.remember_answer(
                conn, request.remember, user_id=request.user_id, body=body, now=now
            )
        return Outcome(value, request.status_code, replayed=False)

    return await or_the_first_answer(db.run(once), db, request)


async def or_the_first_answer(
    attempt: Awaitable[Outcome[T]], db: Database, request: Keyed[T]
) -> Outcome[T]:
    """``attempt``'s outcome; if it failed (refused on its own, or on a key already
    remembered) and a first attempt under the same key has an answer, that answer."""
    try:
        return await attempt
    except (Conflict, DomainError):
        if request.key is None:
            raise
        earlier = await find(
            db,
            user_id=request.user_id,
            key=request.key,
            request_fingerprint=request.fingerprint,
            adapter=request.adapter,
        )
        if earlier is None:
            raise
        return earlier


async def forget_old(*, db: Database, cutoff: datetime) -> int:
    async with db.transaction() as conn:
        return await repository.forget_before(conn, cutoff=cutoff)
