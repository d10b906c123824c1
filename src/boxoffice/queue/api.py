from __future__ import annotations

from fastapi import APIRouter, Request, Response

from boxoffice.context import AppContext
from boxoffice.deps import Admin, Ctx, Now, QueueToken, token_from_header
from boxoffice.errors import InvalidToken, TokenExpired, documented
from boxoffice.queue.schemas import (
    QueueStatusPublic,
    WaitingRoomPatch,
    WaitingRoomPublic,
    status_body,
)
from boxoffice.routing import API_V1, DirectRoute
from boxoffice.schemas import json_response

# Every fan in a sale joins once and then polls every few seconds: these two are
# routed flat and read their requests themselves (see boxoffice.routing).
polls = APIRouter(prefix=f"{API_V1}/queue", tags=["waiting room"], route_class=DirectRoute)
router = APIRouter(prefix="/queue", tags=["waiting room"])
admin_router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[Admin])


@polls.post(
    "/tokens",
    status_code=201,
    response_model=QueueStatusPublic,
    responses={
        **documented(InvalidToken, TokenExpired),
        200: {"description": "You already had a live token; here it is."},
    },
    openapi_extra={"security": [{"AccessToken": []}]},
)
async def join(request: Request) -> Response:
    """Join the line (201), or get back your live place in it (200)."""
    ctx: AppContext = request.app.state.ctx
    now = ctx.clock()
    user = ctx.signer.read_access(token_from_header(request.headers.get("authorization")), now=now)
    status, created = await ctx.waiting_room.join(user_id=user.user_id, now=now)
    return json_response(status_body(status), status_code=201 if created else 200)


@polls.get(
    "/status",
    response_model=QueueStatusPublic,
    responses=documented(InvalidToken, TokenExpired),
    openapi_extra={"security": [{"QueueToken": []}]},
)
async def status(request: Request) -> Response:
    """Where you stand. Poll again after `pollAfterSeconds`; silence past `expiresAt`
    drops you from the line."""
    ctx: AppContext = request.app.state.ctx
    now = ctx.clock()
    token = token_from_header(request.headers.get("authorization"))
    claims = ctx.signer.read_queue(token, now=now)
    answer = await ctx.waiting_room.status(claims=claims, token=token, now=now)
    return json_response(status_body(answer))


@router.delete("/tokens/current", status_code=204, responses=documented(InvalidToken, TokenExpired))
async def leave(claims: QueueToken, ctx: Ctx, now: Now) -> Response:
    """Leave the line (or give up your admission) and free your place at once."""
    await ctx.waiting_room.leave(claims=claims, now=now)
    return Response(status_code=204)


@admin_router.get("/waiting-room", responses=documented(InvalidToken))
async def waiting_room(ctx: Ctx, now: Now) -> WaitingRoomPublic:
    return WaitingRoomPublic.of(await ctx.waiting_room.view(now=now))


@admin_router.patch("/waiting-room", responses=documented(InvalidToken))
async def configure_waiting_room(body: WaitingRoomPatch, ctx: Ctx, now: Now) -> WaitingRoomPublic:
    """Change capacity, pace or pause admission; counts come back with the new settings."""
    view = await ctx.waiting_room.configure(
        now=now,
        capacity=body.capacity,
        per_minute=body.admission_per_minute,
        paused=body.paused,
    )
    return WaitingRoomPublic.of(view)
