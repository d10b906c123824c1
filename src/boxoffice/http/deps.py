"""Request dependencies shared by the routers: credentials, the clock, the context.

Every dependency is ``async def``, even those that never await: FastAPI runs a plain
``def`` dependency in a worker thread, and that hop costs more than the work itself.
"""

from __future__ import annotations

import hmac
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from boxoffice.errors import InvalidToken, ValidationFailed
from boxoffice.http.client_address import client_host
from boxoffice.http.context import AppContext
from boxoffice.queue.service import QueuePass
from boxoffice.tokens import AccessClaims, QueueClaims

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


async def get_context(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


Ctx = Annotated[AppContext, Depends(get_context)]


def request_instant(request: Request) -> datetime:
    """One instant per request, so every rule in it agrees on 'now'."""
    scope = request.scope
    now: datetime | None = scope.get("boxoffice.now")
    if now is None:
        ctx: AppContext = request.app.state.ctx
        now = scope["boxoffice.now"] = ctx.clock()
    return now


async def request_time(request: Request) -> datetime:
    return request_instant(request)


Now = Annotated[datetime, Depends(request_time)]


def token_from_header(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer <token>`` header."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidToken("send the token as 'Authorization: Bearer <token>'")
    return token.strip()


def bearer_token(credentials: Bearer) -> str:
    if credentials is None or not credentials.credentials:
        raise InvalidToken("send the token as 'Authorization: Bearer <token>'")
    return credentials.credentials


async def current_user(
    ctx: Ctx, now: Now, credentials: Annotated[Bearer, Depends(access_scheme)]
) -> AccessClaims:
    return await ctx.identity.read_access(bearer_token(credentials), now=now)


async def maybe_user(ctx: Ctx, now: Now, request: Request) -> AccessClaims | None:
    """The access token's claims when one is sent (refused when it is bad), else None."""
    header = request.headers.get("authorization")
    if header is None:
        return None
    return await ctx.identity.read_access(token_from_header(header), now=now)


async def queue_claims(
    ctx: Ctx, now: Now, credentials: Annotated[Bearer, Depends(queue_scheme)]
) -> QueueClaims:
    return ctx.signer.read_queue(bearer_token(credentials), now=now)


async def check_queue_token(
    request: Request, token: str, *, admitted: bool, concert_id: int | None = None
) -> QueuePass:
    """The gate, callable from a route that reads its request directly. Reads the
    context and clock itself instead of through sub-dependencies: each one costs
    FastAPI more to resolve than it does to run, on the busiest routes."""
    ctx: AppContext = request.app.state.ctx
    claims = ctx.signer.read_queue(token, now=request_instant(request))
    return await ctx.waiting_room.check(claims=claims, admitted=admitted, concert_id=concert_id)


async def _pass(request: Request, credentials: Bearer, *, admitted: bool) -> QueuePass:
    return await check_queue_token(request, bearer_token(credentials), admitted=admitted)


async def queue_pass(
    request: Request, credentials: Annotated[Bearer, Depends(queue_scheme)]
) -> QueuePass:
    return await _pass(request, credentials, admitted=False)


async def user_from_either(
    ctx: Ctx, now: Now, credentials: Annotated[Bearer, Depends(either_scheme)]
) -> int:
    """The user behind an access token or a live queue token."""
    token = bearer_token(credentials)
    if ctx.signer.token_type(token) == "queue":
        claims = ctx.signer.read_queue(token, now=now)
        return (await ctx.waiting_room.check(claims=claims, admitted=False)).user_id
    return (await ctx.identity.read_access(token, now=now)).user_id


async def require_admin(
    request: Request, ctx: Ctx, credentials: Annotated[Bearer, Depends(admin_scheme)]
) -> None:
    """The operator's token. Wrong ones are counted per address
    (``ADMIN_FAILURES_PER_ADDRESS``); while that address is over, even the right one is
    refused from there (429), so guessing cannot go on, while the operator elsewhere
    is not held up."""
    given = bearer_token(credentials).encode()
    address = client_host(request)
    await ctx.limits.check("admin_token", address)
    if not hmac.compare_digest(given, ctx.settings.admin_token.encode()):
        await ctx.limits.count("admin_token", address)
        raise InvalidToken("the admin token is not valid")


def checked_idempotency_key(key: str | None) -> str | None:
    if key is None:
        return None
    if not 1 <= len(key) <= 255 or not all(33 <= ord(c) <= 126 for c in key):
        raise ValidationFailed("Idempotency-Key must be 1-255 visible ASCII characters")
    return key


# What a direct route (boxoffice.http.routing) reads from its request, as strictly as the
# dependencies above do for the others.


def context_of(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


async def access_of(request: Request) -> AccessClaims:
    """The access token's claims (401 for a missing, bad or expired one), boxoffice's
    own or the identity provider's."""
    token = token_from_header(request.headers.get("authorization"))
    return await context_of(request).identity.read_access(token, now=request_instant(request))


def queue_token_of(request: Request) -> tuple[str, QueueClaims]:
    """The queue token and its claims (401 for a missing, bad or expired one)."""
    token = token_from_header(request.headers.get("authorization"))
    return token, context_of(request).signer.read_queue(token, now=request_instant(request))


def idempotency_key_of(request: Request) -> str | None:
    return checked_idempotency_key(request.headers.get("idempotency-key"))


IDEMPOTENCY_KEY_PARAMETER = {
    "in": "header",
    "name": "Idempotency-Key",
    "required": False,
    "description": "Any unique string (1-255 visible ASCII characters); a retry with the "
    "same key replays the first answer.",
    "schema": {"type": "string"},
}


async def idempotency_key(
    key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            description="Any unique string (1-255 visible ASCII characters); a retry with "
            "the same key replays the first answer.",
        ),
    ] = None,
) -> str | None:
    return checked_idempotency_key(key)


CurrentUser = Annotated[AccessClaims, Depends(current_user)]
QueueToken = Annotated[QueueClaims, Depends(queue_claims)]
LivePass = Annotated[QueuePass, Depends(queue_pass)]
AnyUser = Annotated[int, Depends(user_from_either)]
MaybeUser = Annotated[AccessClaims | None, Depends(maybe_user)]
Admin = Depends(require_admin)
IdempotencyKey = Annotated[str | None, Depends(idempotency_key)]
