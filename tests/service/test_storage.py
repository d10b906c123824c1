"""Storage: migrations match the schema, the audit catches what it should."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, insert

from boxoffice.storage import audit
from boxoffice.storage.db import Database
from boxoffice.storage.tables import metadata, users, wallet_transactions, wallets


async def test_the_migrations_build_exactly_the_declared_schema(db: Database) -> None:
    def diff(conn: Connection) -> list[object]:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))

    async with db.core.connect() as conn:
        assert await conn.run_sync(diff) == []


async def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(sqlite_url: str) -> None:
    db = Database(sqlite_url)
    try:
        async with db.core.connect() as conn:
            mode = (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar_one()
            timeout = (await conn.exec_driver_sql("PRAGMA busy_timeout")).scalar_one()
    finally:
        await db.dispose()
    assert mode == "wal"
    assert timeout > 0


async def test_the_audit_reports_a_balance_that_disagrees_with_its_ledger(db: Database) -> None:
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    async with db.core.begin() as conn:
        user_id = (
            await conn.execute(insert(users).values(name="x", created_at=now).returning(users.c.id))
        ).scalar_one()
        await conn.execute(insert(wallets).values(user_id=user_id, balance=500))
        await conn.execute(
            insert(wallet_transactions).values(
                user_id=user_id, type="CHARGE", amount=400, balance_after=400, created_at=now
            )
        )
    assert await audit.audit(db) == [f"user {user_id}: balance 500 but ledger sums to 400"]
