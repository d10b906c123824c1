from __future__ import annotations

from typing import Annotated

from pydantic import Field

from boxoffice.http.schemas import ApiModel, Printable, Trimmed


class UserCreate(ApiModel):
    name: Annotated[str, Trimmed, Field(max_length=100), Printable]


class UserCreated(ApiModel):
    user_id: int
    name: str
    access_token: str = Field(
        description="Send as `Authorization: Bearer …` to the wallet and queue."
    )
