"""Pieces every router's schemas share."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import orjson
from fastapi import Response
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from pydantic.alias_generators import to_camel

# Ids and money are 64-bit integers in storage; larger numbers are refused as input
# instead of overflowing a column.
MAX_INT64 = 2**63 - 1
EntityId = Annotated[int, Field(ge=1, le=MAX_INT64)]


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
