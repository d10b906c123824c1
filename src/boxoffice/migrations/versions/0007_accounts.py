"""Accounts and sessions: a fan may have an email and a password (or be known by the
site's identity provider), and each signed-in device is a session whose refresh
tokens are rotated on every use.

Revision ID: 0007
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as users:
        users.add_column(sa.Column("email", sa.String(length=254), nullable=True))
        users.add_column(sa.Column("password_hash", sa.String(length=200), nullable=True))
        users.add_column(sa.Column("external_id", sa.String(length=400), nullable=True))
        users.create_unique_constraint(op.f("uq_users_email"), ["email"])
        users.create_unique_constraint(op.f("uq_users_external_id"), ["external_id"])
    op.create_table(
        "sessions",
        sa.Column("id", ID, nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_sessions_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sessions")),
    )
    op.create_index(op.f("ix_sessions_user_id"), "sessions", ["user_id"], unique=False)
    op.create_table(
        "refresh_tokens",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("session_id", ID, nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["session_id"], ["sessions.id"], name=op.f("fk_refresh_tokens_session_id_sessions")
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_refresh_tokens")),
    )
    op.create_index(
        op.f("ix_refresh_tokens_session_id"), "refresh_tokens", ["session_id"], unique=False
    )


def downgrade() -> None:
    op.drop_table("refresh_tokens")
    op.drop_table("sessions")
    with op.batch_alter_table("users", schema=None) as users:
        users.drop_constraint(op.f("uq_users_external_id"), type_="unique")
        users.drop_constraint(op.f("uq_users_email"), type_="unique")
        users.drop_column("external_id")
        users.drop_column("password_hash")
        users.drop_column("email")
