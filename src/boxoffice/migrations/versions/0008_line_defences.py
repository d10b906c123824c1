"""A line's defences against bots, set per line by the operator: the most live places
one address may hold in it (null: no cap) and the proof of work a join must carry
("off", "low", "medium", "high"). Lines that exist keep their behaviour: no cap, no
challenge.

Revision ID: 0008
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("waiting_rooms", schema=None) as lines:
        lines.add_column(sa.Column("places_per_address", sa.Integer(), nullable=True))
        lines.add_column(
            sa.Column("challenge", sa.String(length=8), nullable=False, server_default="off")
        )


def downgrade() -> None:
    with op.batch_alter_table("waiting_rooms", schema=None) as lines:
        lines.drop_column("challenge")
        lines.drop_column("places_per_address")
