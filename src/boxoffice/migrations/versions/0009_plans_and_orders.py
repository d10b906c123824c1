"""Seat plans and orders: a concert has its venue's time zone; a seat its section, row,
label and grade, and a schedule its grades with their prices; several seats may be
held and paid together as one order. Schedules that exist become one section ("Floor",
row "1") of one grade ("General") at the price their seats have.

Revision ID: 0009
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("concerts", schema=None) as concerts:
        concerts.add_column(
            sa.Column(
                "time_zone", sa.String(length=64), nullable=False, server_default="Asia/Seoul"
            )
        )
    with op.batch_alter_table("seats", schema=None) as seats:
        seats.add_column(
            sa.Column("section", sa.String(length=40), nullable=False, server_default="Floor")
        )
        seats.add_column(
            sa.Column("row_name", sa.String(length=20), nullable=False, server_default="1")
        )
        seats.add_column(
            sa.Column("label", sa.String(length=40), nullable=False, server_default="")
        )
        seats.add_column(
            sa.Column("grade", sa.String(length=20), nullable=False, server_default="General")
        )
    op.execute("UPDATE seats SET label = CAST(seat_number AS VARCHAR(40))")
    op.create_table(
        "seat_grades",
        sa.Column("schedule_id", ID, nullable=False),
        sa.Column("grade", sa.String(length=20), nullable=False),
        sa.Column("price", sa.BigInteger(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.CheckConstraint("price >= 0", name=op.f("ck_seat_grades_price_not_negative")),
        sa.ForeignKeyConstraint(
            ["schedule_id"], ["schedules.id"], name=op.f("fk_seat_grades_schedule_id_schedules")
        ),
        sa.PrimaryKeyConstraint("schedule_id", "grade", name=op.f("pk_seat_grades")),
    )
    op.execute(
        "INSERT INTO seat_grades (schedule_id, grade, price, position) "
        "SELECT schedule_id, 'General', MIN(price), 1 FROM seats GROUP BY schedule_id"
    )
    op.create_table(
        "orders",
        sa.Column("id", ID, nullable=False),
        sa.Column("user_id", ID, nullable=False),
        sa.Column("schedule_id", ID, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_orders_user_id_users")),
        sa.ForeignKeyConstraint(
            ["schedule_id"], ["schedules.id"], name=op.f("fk_orders_schedule_id_schedules")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
    )
    op.create_index(op.f("ix_orders_user_id"), "orders", ["user_id"], unique=False)
    for table in ("reservations", "payments"):
        with op.batch_alter_table(table, schema=None) as batch:
            batch.add_column(sa.Column("order_id", ID, nullable=True))
            batch.create_foreign_key(
                op.f(f"fk_{table}_order_id_orders"), "orders", ["order_id"], ["id"]
            )
            batch.create_index(op.f(f"ix_{table}_order_id"), ["order_id"], unique=False)


def downgrade() -> None:
    for table in ("payments", "reservations"):
        with op.batch_alter_table(table, schema=None) as batch:
            batch.drop_index(op.f(f"ix_{table}_order_id"))
            batch.drop_constraint(op.f(f"fk_{table}_order_id_orders"), type_="foreignkey")
            batch.drop_column("order_id")
    op.drop_index(op.f("ix_orders_user_id"), table_name="orders")
    op.drop_table("orders")
    op.drop_table("seat_grades")
    with op.batch_alter_table("seats", schema=None) as seats:
        for column in ("grade", "label", "row_name", "section"):
            seats.drop_column(column)
    with op.batch_alter_table("concerts", schema=None) as concerts:
        concerts.drop_column("time_zone")
