"""Request dependencies shared by the routers: credentials, the clock, the context."""

from __future__ import annotations

import hmac
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from boxoffice.auth.tokens import AccessClaims, QueueClaims
from boxoffice.context import AppContext
from boxoffice.errors import InvalidToken, ValidationFailed
from boxoffice.queue.service import QueuePass

access_scheme = HTTPBearer(
    scheme_name="AccessToken",
    description="The access token from `POST /api/v1/users`.",
    auto_error=False,
)
queue_scheme = HTTPBearer(
    scheme_name="QueueToken",
    description="The queue token from `POST /api/v1/queue/tokens`.",
    auto_error=False,
)
admin_scheme = HTTPBearer(
    scheme_name="AdminToken",
    description="The operator token from `BOXOFFICE_ADMIN_TOKEN`.",
    auto_error=False,
)
either_scheme = HTTPBearer(
    scheme_name="AccessOrQueueToken",
    description="Either the access token or a live queue token.",
    auto_error=False,
)

Bearer = HTTPAuthorizationCredentials | None


def get_context(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


Ctx = Annotated[AppContext, Depends(get_context)]


def request_time(ctx: Ctx) -> datetime:
    """One instant per request, so every rule in it agrees on 'now'."""
    return ctx.clock()


Now = Annotated[datetime, Depends(request_time)]


def _token(credentials: Bearer) -> str:
    if credentials is None or not credentials.credentials:
        raise InvalidToken("send the token as 'Authorization: Bearer <token>'")
    return credentials.credentials


def current_user(
    ctx: Ctx, now: Now, credentials: Annotated[Bearer, Depends(access_scheme)]
) -> AccessClaims:
    return ctx.signer.read_access(_token(credentials), now=now)


def queue_claims(
    ctx: Ctx, now: Now, credentials: Annotated[Bearer, Depends(queue_scheme)]
) -> QueueClaims:
    return ctx.signer.read_queue(_token(credentials), now=now)


async def queue_pass(
    ctx: Ctx, now: Now, claims: Annotated[QueueClaims, Depends(queue_claims)]
) -> QueuePass:
    return await ctx.waiting_room.check(claims=claims, now=now, admitted=False)


async def admitted_pass(
    ctx: Ctx, now: Now, claims: Annotated[QueueClaims, Depends(queue_claims)]
) -> QueuePass:
    return await ctx.waiting_room.check(claims=claims, now=now, admitted=True)


async def user_from_either(
    ctx: Ctx, now: Now, credentials: Annotated[Bearer, Depends(either_scheme)]
) -> int:
    """The user behind an access token or a live queue token."""
    token = _token(credentials)
    if ctx.signer.token_type(token) == "queue":
        claims = ctx.signer.read_queue(token, now=now)
        return (await ctx.waiting_room.check(claims=claims, now=now, admitted=False)).user_id
    return ctx.signer.read_access(token, now=now).user_id


def require_admin(ctx: Ctx, credentials: Annotated[Bearer, Depends(admin_scheme)]) -> None:
    given = _token(credentials).encode()
    if not hmac.compare_digest(given, ctx.settings.admin_token.encode()):
        raise InvalidToken("the admin token is not valid")


def idempotency_key(
    key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            description="Any unique string (1-255 visible ASCII characters); a retry with "
            "the same key replays the first answer.",
        ),
    ] = None,
) -> str | None:
    if key is None:
        return None
    if not 1 <= len(key) <= 255 or not all(33 <= ord(c) <= 126 for c in key):
        raise ValidationFailed("Idempotency-Key must be 1-255 visible ASCII characters")
    return key


CurrentUser = Annotated[AccessClaims, Depends(current_user)]
QueueToken = Annotated[QueueClaims, Depends(queue_claims)]
LivePass = Annotated[QueuePass, Depends(queue_pass)]
Admitted = Annotated[QueuePass, Depends(admitted_pass)]
AnyUser = Annotated[int, Depends(user_from_either)]
Admin = Depends(require_admin)
IdempotencyKey = Annotated[str | None, Depends(idempotency_key)]
