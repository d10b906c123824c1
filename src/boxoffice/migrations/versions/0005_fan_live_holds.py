"""On PostgreSQL, a function a hold calls to lock the fan and count their live holds
(``boxoffice.migrations.fan_lock`` says why and how).

Revision ID: 0005
"""

from collections.abc import Sequence

from alembic import op

from boxoffice.migrations.fan_lock import fan_live_holds

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite's hold is step by step, in a transaction that writes alone
    op.execute(fan_live_holds("UPDATE"))


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP FUNCTION boxoffice_fan_live_holds(bigint, timestamptz)")
