"""What a database error means, decided in one place for both drivers.

- ``Unreachable``: the database could not be reached or did not answer in time (a
  refused or lost connection, a pool with no free connection, a statement timeout);
  ``lost`` when a pooled connection died under us, which a fresh one may not, or when
  its server turned read-only under it (demoted by a failover: a fresh connection
  finds the new primary).
- ``Transient``: the database rolled the transaction back (deadlock, serialization,
  lock timeout, SQLite busy); running the whole use case again is safe.
- ``Conflict``: a unique key refused a row (two first attempts of one idempotent request).
- ``BadValue``: a value storage cannot keep (the client's input).
- ``Refused``: anything else the database refused: a broken constraint, a bug.
"""

from __future__ import annotations

import sqlite3

import asyncpg
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout


class StorageError(Exception):
    def __init__(self, message: str, *, sqlstate: str = "") -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


class Unreachable(StorageError):
    def __init__(self, message: str, *, sqlstate: str = "", lost: bool = False) -> None:
        super().__init__(message, sqlstate=sqlstate)
        self.lost = lost


class Transient(StorageError):
    pass


class Conflict(StorageError):
    pass


class BadValue(StorageError):
    pass


class Refused(StorageError):
    pass


_ROLLED_BACK = frozenset({"40001", "40P01", "55P03"})
_READ_ONLY = "25006"
# Shutting down, crashed, starting up, statement timeout, too many connections.
_UNAVAILABLE = frozenset({"57P01", "57P02", "57P03", "57014", "53300"})


def _from_sqlstate(message: str, sqlstate: str) -> StorageError:
    if sqlstate in _ROLLED_BACK:
        return Transient(message, sqlstate=sqlstate)
    if sqlstate.startswith("08") or sqlstate == _READ_ONLY:
        return Unreachable(message, sqlstate=sqlstate, lost=True)
    if sqlstate in _UNAVAILABLE:
        return Unreachable(message, sqlstate=sqlstate)
    if sqlstate == "23505":
        return Conflict(message, sqlstate=sqlstate)
    if sqlstate.startswith("22"):
        return BadValue(message, sqlstate=sqlstate)
    return Refused(message, sqlstate=sqlstate)


def _from_sqlite(message: str, error: BaseException | None) -> StorageError:
    if isinstance(error, sqlite3.IntegrityError):
        unique = "UNIQUE constraint failed" in message or "PRIMARY KEY" in message
        return Conflict(message) if unique else Refused(message)
    if isinstance(error, sqlite3.OperationalError) and "database is locked" in message:
        return Transient(message)
    if isinstance(error, sqlite3.DataError):
        return BadValue(message)
    if isinstance(error, sqlite3.OperationalError) and (
        "unable to open" in message or "disk I/O" in message
    ):
        return Unreachable(message)
    return Refused(message)


def from_driver(error: BaseException) -> StorageError | None:
    """The ``StorageError`` an exception stands for, if it came from a driver or a
    pool; None for anything else (a domain error, a bug)."""
    drivers = (
        asyncpg.PostgresError,
        asyncpg.InterfaceError,
        asyncpg.InternalClientError,
        DBAPIError,
        PoolTimeout,
        OSError,
    )
    if isinstance(error, StorageError):
        return error
    return classify(error) if isinstance(error, drivers) else None


def classify(error: BaseException) -> StorageError:
    """The ``StorageError`` an exception from either driver (or its pool) stands for."""
    if isinstance(error, StorageError):
        return error
    message = str(error) or type(error).__name__
    if isinstance(error, asyncpg.PostgresError):
        return _from_sqlstate(message, str(error.sqlstate or ""))
    if isinstance(error, asyncpg.InterfaceError | ConnectionError):
        return Unreachable(message, lost=True)
    if isinstance(error, asyncpg.InternalClientError):
        # Not a refusal: the driver lost track of its connection, as asyncpg does when
        # the server ends a session mid-transaction ("cannot switch to state ...;
        # another operation is in progress"). That connection is of no further use.
        return Unreachable(message, lost=True)
    if isinstance(error, TimeoutError | OSError | PoolTimeout):
        return Unreachable(message)
    if isinstance(error, DBAPIError):
        orig = error.orig
        sqlstate = str(getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None) or "")
        if sqlstate:
            return _from_sqlstate(message, sqlstate)
        if error.connection_invalidated:
            return Unreachable(message, lost=True)
        return _from_sqlite(str(orig), orig)
    return Refused(message)
