"""The PostgreSQL function a hold calls to lock its fan and count their live holds
(migrations 0005 and 0006 create it, with the lock each names).

A hold is one statement. Its hold limit must count the fan's live holds after the
fan's row is locked, so that two holds of one fan at once cannot both pass: a
statement's own snapshot is older than the lock it waited for, but each query of a
volatile function reads a snapshot of its own, taken when it starts. The count is
``reservations.repository.live_holds_of`` itself, compiled into the function's body,
so the rule of when a hold is live has one home (a test checks the installed body
against it). NULL when the fan does not exist. It refuses to run at another isolation
level, where its count would be the old one."""

from __future__ import annotations

from sqlalchemy import literal_column, select
from sqlalchemy.dialects import postgresql


def _count() -> str:
    from boxoffice.reservations.repository import live_holds_of

    query = select(live_holds_of(literal_column("fan"), now=literal_column("at")))
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    compiled = query.compile(dialect=dialect, compile_kwargs={"literal_binds": True})
    return str(compiled)


def fan_live_holds(lock: str) -> str:
    """The function's definition, locking the fan's row ``FOR {lock}``."""
    return f"""
        CREATE OR REPLACE FUNCTION boxoffice_fan_live_holds(fan bigint, at timestamptz)
        RETURNS integer LANGUAGE plpgsql VOLATILE AS $$
        BEGIN
            -- Under REPEATABLE READ the count would read the statement's old snapshot.
            IF current_setting('transaction_isolation') <> 'read committed' THEN
                RAISE EXCEPTION 'a hold counts after its lock only under READ COMMITTED, not %',
                    current_setting('transaction_isolation');
            END IF;
            PERFORM 1 FROM users WHERE id = fan FOR {lock};
            IF NOT FOUND THEN
                RETURN NULL;
            END IF;
            RETURN ({_count()});
        END
        $$
        """
