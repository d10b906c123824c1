"""The hold's lock on the fan no longer blocks a sale's key checks on that fan.

``boxoffice_fan_live_holds`` (migration 0005) locked the fan's row ``FOR UPDATE``. A
payment that writes a row naming a fan (the payment, its ledger entry, its remembered
answer) has PostgreSQL check that key at the end of its statement, under a
``FOR KEY SHARE`` lock on the fan's row, which ``FOR UPDATE`` blocks. A hold that
holds a fan's lock and waits for a seat the payment has locked (a seat it is
selling), while the payment waits for that fan's key, deadlocks. ``FOR NO KEY
UPDATE`` still puts one fan's holds one after another (it blocks itself) and lets
the key checks through. The function is otherwise as 0005 made it
(``boxoffice.migrations.fan_lock``).

Revision ID: 0006
"""

from collections.abc import Sequence

from alembic import op

from boxoffice.migrations.fan_lock import fan_live_holds

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite's hold is step by step, in a transaction that writes alone
    op.execute(fan_live_holds("NO KEY UPDATE"))


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(fan_live_holds("UPDATE"))
