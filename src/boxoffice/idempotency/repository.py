"""SQL for remembered answers to requests sent with an Idempotency-Key."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from boxoffice.tables import idempotency_keys as keys


@dataclass(frozen=True, slots=True)
class Remembered:
    fingerprint: str
    status_code: int
    body: str


async def find(conn: AsyncConnection, *, user_id: int, key: str) -> Remembered | None:
    row = (
        await conn.execute(
            select(keys.c.fingerprint, keys.c.status_code, keys.c.body).where(
                keys.c.user_id == user_id, keys.c.key == key
            )
        )
    ).one_or_none()
    if row is None:
        return None
    return Remembered(fingerprint=row.fingerprint, status_code=row.status_code, body=row.body)


async def remember(
    conn: AsyncConnection,
    *,
    user_id: int,
    key: str,
    fingerprint: str,
    status_code: int,
    body: str,
    now: datetime,
) -> None:
    await conn.execute(
        insert(keys).values(
            user_id=user_id,
            key=key,
            fingerprint=fingerprint,
            status_code=status_code,
            body=body,
            created_at=now,
        )
    )


async def forget_before(conn: AsyncConnection, *, cutoff: datetime) -> int:
    result = await conn.execute(delete(keys).where(keys.c.created_at < cutoff))
    return result.rowcount
