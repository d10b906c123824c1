from __future__ import annotations

from fastapi import APIRouter, Response

from boxoffice.deps import Admin, Ctx, CurrentUser, Now, QueueToken
from boxoffice.errors import InvalidToken, TokenExpired, documented
from boxoffice.queue.schemas import QueueStatusPublic, WaitingRoomPatch, WaitingRoomPublic

router = APIRouter(prefix="/queue", tags=["waiting room"])
admin_router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[Admin])


@router.post(
    "/tokens",
    status_code=201,
    responses={
        **documented(InvalidToken, TokenExpired),
        200: {"description": "You already had a live token; here it is."},
    },
)
async def join(user: CurrentUser, ctx: Ctx, now: Now, response: Response) -> QueueStatusPublic:
    """Join the line (201), or get back your live place in it (200)."""
    status, created = await ctx.waiting_room.join(user_id=user.user_id, now=now)
    if not created:
        response.status_code = 200
    return QueueStatusPublic.of(status)


@router.get("/status", responses=documented(InvalidToken, TokenExpired))
async def status(claims: QueueToken, ctx: Ctx, now: Now) -> QueueStatusPublic:
    """Where you stand. Poll again after `pollAfterSeconds`; silence past `expiresAt`
    drops you from the line."""
    return QueueStatusPublic.of(await ctx.waiting_room.status(claims=claims, now=now))


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
