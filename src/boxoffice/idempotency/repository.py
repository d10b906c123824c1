"""SQL for remembered answers to requests sent with an Idempotency-Key."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    CTE,
    BigInteger,
    ColumnElement,
    FromClause,
    Integer,
    String,
    Text,
    bindparam,
    cast,
    delete,
    func,
    insert,
    literal,
    select,
)

from boxoffice.storage.query import Conn, Query
from boxoffice.storage.tables import UTCDateTime
from boxoffice.storage.tables import idempotency_keys as keys


@dataclass(frozen=True, slots=True)
class Remembered:
    fingerprint: str
    status_code: int
    body: str


FIND = Query(
    select(keys.c.fingerprint, keys.c.status_code, keys.c.body).where(
        keys.c.user_id == bindparam("user_id"), keys.c.key == bindparam("key")
    )
)
REMEMBER = Query(
    insert(keys).values(
        user_id=bindparam("user_id"),
        key=bindparam("key"),
        fingerprint=bindparam("fingerprint"),
        status_code=bindparam("status_code"),
        body=bindparam("body"),
        created_at=bindparam("now"),
    )
)
FORGET_BEFORE = Query(delete(keys).where(keys.c.created_at < bindparam("cutoff")))


async def find(conn: Conn, *, user_id: int, key: str) -> Remembered | None:
    row = await conn.fetchrow(FIND, user_id=user_id, key=key)
    if row is None:
        return None
    return Remembered(
        fingerprint=row["fingerprint"], status_code=row["status_code"], body=row["body"]
    )


async def forget_before(conn: Conn, *, cutoff: datetime) -> int:
    return await conn.execute(FORGET_BEFORE, cutoff=cutoff)


@dataclass(frozen=True, slots=True)
class Remember:
    """A key to remember an answer under, inside the statement that makes the answer
    (the parameters ``remembered_in`` reads)."""

    key: str
    fingerprint: str
    status_code: int

    def params(self) -> dict[str, Any]:
        return {"key": self.key, "fingerprint": self.fingerprint, "status_code": self.status_code}


def remembered_params(remembers: Sequence[Remember | None]) -> dict[str, list[Any]]:
    """The keys, fingerprints and status codes of several requests (None: no key), as
    the ``each`` columns of a statement that serves them all read them."""
    return {
        "keys": [r.key if r else None for r in remembers],
        "fingerprints": [r.fingerprint if r else None for r in remembers],
        "status_codes": [r.status_code if r else None for r in remembers],
    }


def remembered_in(
    source: FromClause,
    *,
    answer: type,
    fields: Mapping[str, ColumnElement[Any]],
    each: Mapping[str, ColumnElement[Any]] | None = None,
) -> CTE:
    """On PostgreSQL: the key's row as one more part of a use case's single statement,
    with the answer built from that statement's own rows. ``fields`` gives every field
    of the dataclass ``answer`` (a column of ``source`` or a bound value) and nothing
    else; the JSON it makes is what the answer's adapter reads back on a replay.

    Whose request it is, its key, fingerprint, status code and instant are the
    statement's bound values ``user`` and ``now`` and the ``Remember`` params; or, for
    a statement that serves many requests, ``each`` gives them as columns of
    ``source`` under those names (``user``, ``key``, ``fingerprint``, ``status_code``,
    ``now``), and a row whose key is null is not remembered."""
    names = [field.name for field in dataclasses.fields(answer)]
    if sorted(fields) != sorted(names):
        raise TypeError(f"remember every field of {answer.__name__}: {names}, not {list(fields)}")
    pairs = [part for name in names for part in (literal(name), fields[name])]
    request = each or {
        "user": bindparam("user", type_=BigInteger),
        "key": bindparam("key", type_=String),
        "fingerprint": bindparam("fingerprint", type_=String),
        "status_code": bindparam("status_code", type_=Integer),
        "now": bindparam("now", type_=UTCDateTime()),
    }
    rows = select(
        request["user"],
        request["key"],
        request["fingerprint"],
        request["status_code"],
        cast(func.json_build_object(*pairs), Text),
        request["now"],
    ).select_from(source)
    if each is not None:
        rows = rows.where(request["key"].is_not(None))
    return (
        insert(keys)
        .from_select(["user_id", "key", "fingerprint", "status_code", "body", "created_at"], rows)
        .returning(keys.c.key)
        .cte("remembered")
    )


async def remember_answer(
    conn: Conn, remember: Remember, *, user_id: int, body: str, now: datetime
) -> None:
    """Remember ``body`` under ``remember``'s key, in the caller's transaction: how a
    use case run a statement at a time remembers its answer (its statement's own
    part, ``remembered_in``, is how one statement does)."""
    await conn.execute(
        REMEMBER,
        user_id=user_id,
        key=remember.key,
        fingerprint=remember.fingerprint,
        status_code=remember.status_code,
        body=body,
        now=now,
    )
