"""On PostgreSQL, a function a hold calls to lock the fan and count their live holds.

A hold is one statement. Its hold limit must count the fan's live holds after the
fan's row is locked, so that two holds of one fan at once cannot both pass: a
statement's own snapshot is older than the lock it waited for, but each query of a
volatile function reads a snapshot of its own, taken when it starts. The count is
the SQL twin of ``reservations.repository.live_holds_of`` (a HELD reservation whose
``held_until`` is still ahead: ``holds.live_hold``). NULL when the fan does not exist.
It refuses to run at another isolation level, where its count would be the old one.

Revision ID: 0005
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite's hold is step by step, in a transaction that writes alone
    op.execute(
        """
        CREATE FUNCTION boxoffice_fan_live_holds(fan bigint, at timestamptz) RETURNS integer
        LANGUAGE plpgsql VOLATILE AS $$
        BEGIN
            -- Under REPEATABLE READ the count would read the statement's old snapshot.
            IF current_setting('transaction_isolation') <> 'read committed' THEN
                RAISE EXCEPTION 'a hold counts after its lock only under READ COMMITTED, not %',
                    current_setting('transaction_isolation');
            END IF;
            PERFORM 1 FROM users WHERE id = fan FOR UPDATE;
            IF NOT FOUND THEN
                RETURN NULL;
            END IF;
            RETURN (
                SELECT count(*) FROM reservations
                WHERE user_id = fan AND status = 'HELD' AND held_until > at
            );
        END
        $$
        """
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP FUNCTION boxoffice_fan_live_holds(bigint, timestamptz)")
