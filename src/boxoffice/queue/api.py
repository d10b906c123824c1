from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from pydantic import ValidationError

from boxoffice.catalog import service as catalog
from boxoffice.errors import (
    ConcertNotFound,
    InvalidToken,
    LineOpen,
    NotFound,
    SoldOut,
    TokenExpired,
    ValidationFailed,
    documented,
)
from boxoffice.http.deps import (
    Admin,
    Ctx,
    QueueToken,
    access_of,
    context_of,
    queue_token_of,
    request_instant,
)
from boxoffice.http.routing import API_V1, DirectRoute, answers, body_schema, problem_text
from boxoffice.http.schemas import MAX_INT64, json_response
from boxoffice.queue.control import UNCHANGED
from boxoffice.queue.schemas import (
    ConcertWaitingRoomPatch,
    ConcertWaitingRoomPublic,
    QueueJoin,
    QueueStatusPublic,
    WaitingRoomPatch,
    WaitingRoomPublic,
    status_body,
)

# Every fan in a sale joins once and then polls every few seconds: these two are
# routed flat and read their requests themselves (see boxoffice.http.routing).
polls = APIRouter(prefix=f"{API_V1}/queue", tags=["waiting room"], route_class=DirectRoute)
router = APIRouter(prefix="/queue", tags=["waiting room"])
admin_router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[Admin])

ConcertId = Annotated[int, Path(ge=1, le=MAX_INT64)]


@polls.post(
    "/tokens",
    responses={
        **answers(201, QueueStatusPublic, "You joined the line."),
        **answers(200, QueueStatusPublic, "You already had a live token; here it is."),
        **documented(InvalidToken, TokenExpired, ConcertNotFound, SoldOut),
    },
    openapi_extra={
        "security": [{"AccessToken": []}],
        "requestBody": body_schema(QueueJoin, required=False),
    },
)
async def join(request: Request) -> Response:
    """Join the line (201), or get back your live place in it (200). With
    `{"concertId"}`, the line that concert is sold through."""
    user = await access_of(request)
    concert_id = _join_body(await request.body())
    status, created = await context_of(request).waiting_room.join(
        user_id=user.user_id, now=request_instant(request), concert_id=concert_id
    )
    return json_response(status_body(status), status_code=201 if created else 200)


def _join_body(body: bytes) -> int | None:
    if not body.strip():
        return None
    try:
        return QueueJoin.model_validate_json(body).concert_id
    except ValidationError as exc:
        raise ValidationFailed(problem_text(exc)) from None


@polls.get(
    "/status",
    responses={
        **answers(200, QueueStatusPublic, "Where you stand."),
        **documented(InvalidToken, TokenExpired),
    },
    openapi_extra={"security": [{"QueueToken": []}]},
)
async def status(request: Request) -> Response:
    """Where you stand. Poll again after `pollAfterSeconds`; silence past `expiresAt`
    drops you from the line."""
    token, claims = queue_token_of(request)
    answer = await context_of(request).waiting_room.status(claims=claims, token=token)
    return json_response(status_body(answer))


@router.delete("/tokens/current", status_code=204, responses=documented(InvalidToken, TokenExpired))
async def leave(claims: QueueToken, ctx: Ctx) -> Response:
    """Leave the line (or give up your admission) and free your place at once."""
    await ctx.waiting_room.leave(claims=claims)
    return Response(status_code=204)


@admin_router.get("/waiting-room", responses=documented(InvalidToken))
async def waiting_room(ctx: Ctx) -> WaitingRoomPublic:
    """The default line: its settings and live counts."""
    return WaitingRoomPublic.of(await ctx.control.view(line=ctx.lines.line_for(None)))


@admin_router.patch("/waiting-room", responses=documented(InvalidToken))
async def configure_waiting_room(body: WaitingRoomPatch, ctx: Ctx) -> WaitingRoomPublic:
    """Change capacity, pace or pause admission; counts come back with the new settings."""
    view = await ctx.control.configure(
        concert_id=None,
        capacity=body.capacity,
        per_minute=body.admission_per_minute,
        paused=body.paused,
    )
    return WaitingRoomPublic.of(view)


CONCERT_LINE_ERRORS = documented(InvalidToken, ConcertNotFound, NotFound)
CONCERT_LINE_CHANGE_ERRORS = documented(InvalidToken, ConcertNotFound, LineOpen)


@admin_router.get("/concerts/{concert_id}/waiting-room", responses=CONCERT_LINE_ERRORS)
async def concert_waiting_room(concert_id: ConcertId, ctx: Ctx) -> ConcertWaitingRoomPublic:
    """A concert's own line (404 `not_found` if it is sold through the default line)."""
    await catalog.require_concert(db=ctx.db, concert_id=concert_id)
    if concert_id not in ctx.lines.concert_lines():
        await ctx.lines.refresh()
    line = ctx.lines.line_for(concert_id)
    if line == ctx.lines.line_for(None):
        raise NotFound(f"concert {concert_id} is sold through the default line")
    return ConcertWaitingRoomPublic.of(await ctx.control.view(line=line))


@admin_router.put("/concerts/{concert_id}/waiting-room", responses=CONCERT_LINE_CHANGE_ERRORS)
async def set_concert_waiting_room(
    concert_id: ConcertId, body: ConcertWaitingRoomPatch, ctx: Ctx
) -> ConcertWaitingRoomPublic:
    """Give the concert a line of its own, or replace its settings (omitted ones take
    the defaults; no `salesOpenAt`: open at once)."""
    await catalog.require_concert(db=ctx.db, concert_id=concert_id)
    defaults = ctx.lines.defaults
    view = await ctx.control.configure(
        concert_id=concert_id,
        capacity=defaults.capacity if body.capacity is None else body.capacity,
        per_minute=defaults.per_minute
        if body.admission_per_minute is None
        else body.admission_per_minute,
        paused=bool(body.paused),
        opens_at=body.sales_open_at,
    )
    return ConcertWaitingRoomPublic.of(view)


@admin_router.patch("/concerts/{concert_id}/waiting-room", responses=CONCERT_LINE_CHANGE_ERRORS)
async def change_concert_waiting_room(
    concert_id: ConcertId, body: ConcertWaitingRoomPatch, ctx: Ctx
) -> ConcertWaitingRoomPublic:
    """Change what is given; a concert without a line of its own gets one."""
    await catalog.require_concert(db=ctx.db, concert_id=concert_id)
    view = await ctx.control.configure(
        concert_id=concert_id,
        capacity=body.capacity,
        per_minute=body.admission_per_minute,
        paused=body.paused,
        opens_at=body.sales_open_at if "sales_open_at" in body.model_fields_set else UNCHANGED,
    )
    return ConcertWaitingRoomPublic.of(view)
