"""Pieces every router's schemas share."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

# Ids and money are 64-bit integers in storage; larger numbers are refused as input
# instead of overflowing a column.
MAX_INT64 = 2**63 - 1
EntityId = Annotated[int, Field(ge=1, le=MAX_INT64)]


class ApiModel(BaseModel):
    """camelCase on the wire, snake_case in Python; unknown fields refused."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")
