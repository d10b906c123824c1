"""Pieces every router's schemas share."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated, Any

import orjson
from fastapi import Path, Response
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
)
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

# Ids and money are 64-bit integers in storage; larger numbers are refused as input
# instead of overflowing a column.
MAX_INT64 = 2**63 - 1
EntityId = Annotated[int, Field(ge=1, le=MAX_INT64)]
ID_RULE = f"must be a whole number from 1 to {MAX_INT64}, in decimal digits alone"


def decimal_id(text: str) -> int | None:
    """The id a path segment writes, or None: ASCII digits alone (no sign, space,
    point or exponent), from 1 to ``MAX_INT64``. Every id in a path is read by this,
    whichever way its route is served."""
    if not (text.isascii() and text.isdigit()) or len(text.lstrip("0")) > 19:
        return None
    value = int(text)
    return value if 1 <= value <= MAX_INT64 else None


def _path_id(value: object) -> int:
    found = decimal_id(value) if isinstance(value, str) else None
    if found is None:
        raise PydanticCustomError("path_id", ID_RULE)
    return found


# An id in a FastAPI route's path. Without the validator pydantic's lax integer
# would take "1.0", " 1" and "+1" as 1.
PathId = Annotated[int, Path(ge=1, le=MAX_INT64), BeforeValidator(_path_id)]

# A time is ISO 8601 with a UTC offset; a day is YYYY-MM-DD. Checked on the text
# before pydantic reads it, which would take a number (or a string of digits) as
# seconds since 1970, and a day in other forms.
_INSTANT_TEXT = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}(:[0-9]{2}([.,][0-9]+)?)?"
    r"([Zz]|[+-][0-9]{2}(:?[0-9]{2})?)"
)
_DAY_TEXT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _instant_text(value: object) -> object:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _INSTANT_TEXT.fullmatch(value):
        raise PydanticCustomError(
            "instant", "must be an ISO 8601 time with a UTC offset, e.g. 2026-12-24T19:00:00Z"
        )
    return value


def _day_text(value: object) -> object:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _DAY_TEXT.fullmatch(value):
        raise PydanticCustomError("day", "must be a date written YYYY-MM-DD")
    return value


def _in_utc(value: datetime) -> datetime:
    """Every time is kept in UTC: one that has no UTC form (past the year 9999 or
    before year 1 once its offset is taken off) is refused here, not by storage."""
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("the time is out of range once converted to UTC") from None


# A time a client sends, in UTC once read.
Instant = Annotated[AwareDatetime, BeforeValidator(_instant_text), AfterValidator(_in_utc)]
# A day a client sends.
Day = Annotated[date, BeforeValidator(_day_text)]


def _printable(value: str) -> str:
    if not value.isprintable():
        raise ValueError("must not contain control characters")
    return value


# Text a person typed: trimmed, not empty, no control characters (NUL included, which
# PostgreSQL cannot store).
Printable = AfterValidator(_printable)
Trimmed = StringConstraints(strip_whitespace=True, min_length=1)


class ApiModel(BaseModel):
    """camelCase on the wire, snake_case in Python; unknown fields refused. Built from
    the domain's objects with ``model_validate(obj)`` (their attributes by name)."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", from_attributes=True
    )


def utc_text(moment: datetime) -> str:
    """ISO 8601 in UTC with a Z, as every time in the API is written."""
    return moment.isoformat().replace("+00:00", "Z")


def json_response(body: dict[str, Any], *, status_code: int = 200) -> Response:
    """A JSON answer encoded once with orjson, for hot endpoints that build their body
    by hand instead of having FastAPI validate and serialise a model again."""
    return Response(orjson.dumps(body), status_code=status_code, media_type="application/json")
