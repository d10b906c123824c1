from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field

from boxoffice.http.schemas import ApiModel, Printable, Trimmed

Name = Annotated[str, Trimmed, Field(max_length=100), Printable]
Email = Annotated[str, Trimmed, Field(max_length=254), Printable]
Password = Annotated[str, Field(min_length=1, max_length=1024)]


class UserCreate(ApiModel):
    name: Name


class AccountCreate(ApiModel):
    email: Email
    password: Password
    name: Name


class SessionCreate(ApiModel):
    email: Email
    password: Password


class SessionRefresh(ApiModel):
    refresh_token: str | None = Field(
        default=None,
        max_length=200,
        description="Left out, the `boxoffice_refresh` cookie is read instead.",
    )


class SignedInPublic(ApiModel):
    user_id: int
    name: str
    email: str | None = Field(description="None for a guest.")
    access_token: str = Field(
        description="Send as `Authorization: Bearer …` to the wallet and queue; it lapses "
        "at `accessExpiresAt`: renew it with the refresh token."
    )
    access_expires_at: datetime
    refresh_token: str | None = Field(
        description="Renews the access token once (`POST /api/v1/sessions/refresh`): each "
        "use answers a new one, and an old one used again ends the session. Null when the "
        "session was renewed through its cookie: the new one is in the cookie alone."
    )


class UserCreated(SignedInPublic):
    """A guest: signed in, with no email."""
