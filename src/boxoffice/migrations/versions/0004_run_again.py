"""On PostgreSQL, a function a statement calls to be rolled back and run again.

A sale that is one statement checks every guard before it writes, in its snapshot. A
write that then finds its row changed by a transaction that committed meanwhile (a
concurrent debit of the same wallet, say) skips that row; the statement calls this
instead of committing the rest, which rolls the whole statement back as a
serialization failure, and the caller runs it again on fresh rows.

Revision ID: 0004
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite's sale is step by step, in a transaction
    op.execute(
        """
        CREATE FUNCTION boxoffice_run_again(reason text) RETURNS bigint
        LANGUAGE plpgsql VOLATILE AS $$
        BEGIN
            RAISE EXCEPTION USING ERRCODE = 'serialization_failure', MESSAGE = reason;
        END
        $$
        """
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP FUNCTION boxoffice_run_again(text)")
