"""The schema, in SQLAlchemy Core, so the same statements run on SQLite and PostgreSQL.
Alembic's migrations (``boxoffice/migrations``) create it; these tables are how the
repositories name it."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
Id = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in Python; naive UTC on SQLite, timestamptz on PostgreSQL.

    SQLite compares the stored text, which is ordered because every value is
    written in the same fixed-width format.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


users = Table(
    "users",
    metadata,
    Column("id", Id, primary_key=True),
    Column("name", String(100), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    # A guest has neither; an account has both (the email kept lower-cased).
    Column("email", String(254), unique=True),
    Column("password_hash", String(200)),
    # The site's identity provider's "iss sub", for a fan it signed in.
    Column("external_id", String(400), unique=True),
)

# One signed-in device: its refresh tokens are rotated on every use, and one used a
# second time revokes the whole session (someone else had a copy).
sessions = Table(
    "sessions",
    metadata,
    Column("id", Id, primary_key=True),
    Column("user_id", Id, ForeignKey("users.id"), nullable=False, index=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("revoked_at", UTCDateTime()),
)

# Every refresh token issued, by the SHA-256 of its secret: used once, then spent.
refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("session_id", Id, ForeignKey("sessions.id"), nullable=False, index=True),
    Column("issued_at", UTCDateTime(), nullable=False),
    Column("used_at", UTCDateTime()),
)

wallets = Table(
    "wallets",
    metadata,
    Column("user_id", Id, ForeignKey("users.id"), primary_key=True),
    Column("balance", BigInteger, nullable=False),
    CheckConstraint("balance >= 0", name="balance_not_negative"),
)

wallet_transactions = Table(
    "wallet_transactions",
    metadata,
    Column("id", Id, primary_key=True),
    Column("user_id", Id, ForeignKey("users.id"), nullable=False),
    Column("type", String(16), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("balance_after", BigInteger, nullable=False),
    Column("reservation_id", Id, nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Index("ix_wallet_transactions_user_id_id", "user_id", "id"),
)

concerts = Table(
    "concerts",
    metadata,
    Column("id", Id, primary_key=True),
    Column("title", String(200), nullable=False),
    Column("venue", String(200), nullable=False),
    # The venue's IANA time zone: times stay UTC on the wire and are shown in it.
    Column("time_zone", String(64), nullable=False, server_default="Asia/Seoul"),
)

schedules = Table(
    "schedules",
    metadata,
    Column("id", Id, primary_key=True),
    Column("concert_id", Id, ForeignKey("concerts.id"), nullable=False),
    Column("concert_at", UTCDateTime(), nullable=False),
    # Set when the operator cancels the show: it is no longer bookable, its tickets
    # were refunded and its holds released.
    Column("cancelled_at", UTCDateTime(), nullable=True),
    Index("ix_schedules_concert_id_concert_at", "concert_id", "concert_at"),
)

# A seat carries its own hold: hold_reservation_id and held_until say who holds it
# until when; sold_reservation_id says who bought it. Whether it is AVAILABLE, HELD
# or SOLD is derived from these at read time, so a lapsed hold frees the seat at that
# instant with no job to run.
seats = Table(
    "seats",
    metadata,
    Column("id", Id, primary_key=True),
    Column("schedule_id", Id, ForeignKey("schedules.id"), nullable=False),
    Column("seat_number", Integer, nullable=False),
    Column("price", BigInteger, nullable=False),
    Column("hold_reservation_id", Id, nullable=True),
    Column("held_until", UTCDateTime(), nullable=True),
    Column("sold_reservation_id", Id, nullable=True, unique=True),
    # Where the seat is in the venue's plan, and its grade (whose price it was given).
    # A schedule made without a plan has one section and one grade.
    Column("section", String(40), nullable=False, server_default="Floor"),
    Column("row_name", String(20), nullable=False, server_default="1"),
    Column("label", String(40), nullable=False, server_default=""),
    Column("grade", String(20), nullable=False, server_default="General"),
    UniqueConstraint("schedule_id", "seat_number", name="uq_seats_schedule_id_seat_number"),
    CheckConstraint("price >= 0", name="price_not_negative"),
)

# A schedule's grades with their prices, in the order the plan listed them.
seat_grades = Table(
    "seat_grades",
    metadata,
    Column("schedule_id", Id, ForeignKey("schedules.id"), primary_key=True),
    Column("grade", String(20), primary_key=True),
    Column("price", BigInteger, nullable=False),
    Column("position", Integer, nullable=False),
    CheckConstraint("price >= 0", name="price_not_negative"),
)

# Several seats of one schedule held together: every seat or none, paid together.
orders = Table(
    "orders",
    metadata,
    Column("id", Id, primary_key=True),
    Column("user_id", Id, ForeignKey("users.id"), nullable=False, index=True),
    Column("schedule_id", Id, ForeignKey("schedules.id"), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

reservations = Table(
    "reservations",
    metadata,
    Column("id", Id, primary_key=True),
    Column("user_id", Id, ForeignKey("users.id"), nullable=False),
    Column("seat_id", Id, ForeignKey("seats.id"), nullable=False),
    Column("price", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("held_until", UTCDateTime(), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("confirmed_at", UTCDateTime(), nullable=True),
    Column("refunded_at", UTCDateTime(), nullable=True),
    # The order the hold was made in; NULL: a seat held on its own.
    Column("order_id", Id, ForeignKey("orders.id"), nullable=True, index=True),
    Index("ix_reservations_user_id_status", "user_id", "status"),
)

payments = Table(
    "payments",
    metadata,
    Column("id", Id, primary_key=True),
    Column("reservation_id", Id, ForeignKey("reservations.id"), nullable=False, unique=True),
    Column("user_id", Id, ForeignKey("users.id"), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("paid_at", UTCDateTime(), nullable=False),
    # An order is paid by one payment row per seat, each naming the order.
    Column("order_id", Id, ForeignKey("orders.id"), nullable=True, index=True),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("user_id", Id, ForeignKey("users.id"), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("status_code", Integer, nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Index("ix_idempotency_keys_created_at", "created_at"),
)

# A line's rules as the operator set them, so a waiting-room store that lost its data
# (or a new one) starts the line again as it was. ``line`` is "default" or
# "concert-<id>"; ``seeded_at``/``resets`` record when the store last had to start it.
waiting_rooms = Table(
    "waiting_rooms",
    metadata,
    Column("line", String(40), primary_key=True),
    Column("concert_id", Id, ForeignKey("concerts.id"), nullable=True, unique=True),
    Column("capacity", Integer, nullable=False),
    Column("per_minute", Integer, nullable=False),
    Column("paused", Boolean, nullable=False),
    Column("opens_at", UTCDateTime(), nullable=True),
    Column("draw_seed", String(64), nullable=True),
    Column("seeded_at", UTCDateTime(), nullable=True),
    Column("resets", Integer, nullable=False),
    Column("last_reset_at", UTCDateTime(), nullable=True),
    # The line's defences: most live places per address (null: no cap), and the
    # proof of work a join carries.
    Column("places_per_address", Integer, nullable=True),
    Column("challenge", String(8), nullable=False, server_default="off"),
)

# Each opening's draw: the seed (committed to, by its hash, before the opening) and
# the pre-queue in the order drawn, so anyone can check the order from the seed.
line_draws = Table(
    "line_draws",
    metadata,
    Column("id", Id, primary_key=True),
    Column("line", String(40), ForeignKey("waiting_rooms.line"), nullable=False),
    Column("opens_at", UTCDateTime(), nullable=False),
    Column("drawn_at", UTCDateTime(), nullable=False),
    Column("seed", String(64), nullable=False),
    Column("entrants", Integer, nullable=False),
    Column("draw_order", Text, nullable=False),
    UniqueConstraint("line", "opens_at", name="uq_line_draws_line_opens_at"),
)
