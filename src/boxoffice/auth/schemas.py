from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints, field_validator

from boxoffice.schemas import ApiModel


class UserCreate(ApiModel):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]

    @field_validator("name")
    @classmethod
    def _printable(cls, value: str) -> str:
        if not value.isprintable():
            raise ValueError("name must not contain control characters")
        return value


class UserCreated(ApiModel):
    user_id: int
    name: str
    access_token: str = Field(
        description="Send as `Authorization: Bearer …` to the wallet and queue."
    )
