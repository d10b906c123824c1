"""Lines kept in the database: each line's rules and the record of its opening draws.

Revision ID: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "waiting_rooms",
        sa.Column("line", sa.String(length=40), nullable=False),
        sa.Column("concert_id", Id, nullable=True),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("per_minute", sa.Integer(), nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("opens_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("draw_seed", sa.String(length=64), nullable=True),
        sa.Column("seeded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resets", sa.Integer(), nullable=False),
        sa.Column("last_reset_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["concert_id"], ["concerts.id"], name=op.f("fk_waiting_rooms_concert_id_concerts")
        ),
        sa.PrimaryKeyConstraint("line", name=op.f("pk_waiting_rooms")),
        sa.UniqueConstraint("concert_id", name=op.f("uq_waiting_rooms_concert_id")),
    )
    op.create_table(
        "line_draws",
        sa.Column("id", Id, nullable=False),
        sa.Column("line", sa.String(length=40), nullable=False),
        sa.Column("opens_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("drawn_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seed", sa.String(length=64), nullable=False),
        sa.Column("entrants", sa.Integer(), nullable=False),
        sa.Column("draw_order", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["line"], ["waiting_rooms.line"], name=op.f("fk_line_draws_line_waiting_rooms")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_line_draws")),
        sa.UniqueConstraint("line", "opens_at", name="uq_line_draws_line_opens_at"),
    )


def downgrade() -> None:
    op.drop_table("line_draws")
    op.drop_table("waiting_rooms")
