from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import ValidationError

from boxoffice.catalog import service as catalog
from boxoffice.errors import (
    ChallengeRequired,
    ConcertNotFound,
    InvalidToken,
    LineOpen,
    NotFound,
    RateLimited,
    SoldOut,
    TokenExpired,
    ValidationFailed,
    documented,
)
from boxoffice.http.client_address import client_host
from boxoffice.http.context import AppContext
from boxoffice.http.deps import (
    Admin,
    Ctx,
    CurrentUser,
    Now,
    QueueToken,
    access_of,
    context_of,
    queue_token_of,
    request_instant,
)
from boxoffice.http.rate_limits import address_key
from boxoffice.http.routing import (
    API_V1,
    DirectRoute,
    answers,
    body_schema,
    problem_text,
    raw_body,
)
from boxoffice.http.schemas import MAX_INT64, PathId, json_response
from boxoffice.queue.challenge import ChallengeLevel
from boxoffice.queue.control import Defences, Keep
from boxoffice.queue.schemas import (
    ChallengePublic,
    ConcertWaitingRoomPatch,
    ConcertWaitingRoomPublic,
    QueueJoin,
    QueueStatusPublic,
    RefusalsPublic,
    Removed,
    WaitingRoomPatch,
    WaitingRoomPublic,
    status_body,
)
from boxoffice.queue.store import NO_ADDRESS

# What an operator did to whom, and from where: kept with the access log.
audit = logging.getLogger("boxoffice.operator")

# Every fan in a sale joins once and then polls every few seconds: these two are
# routed flat and read their requests themselves (see boxoffice.http.routing).
polls = APIRouter(prefix=f"{API_V1}/queue", tags=["waiting room"], route_class=DirectRoute)
router = APIRouter(prefix="/queue", tags=["waiting room"])
admin_router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[Admin])

ConcertQuery = Annotated[
    int | None,
    Query(alias="concertId", ge=1, le=MAX_INT64, description="The concert whose line to join."),
]


@polls.post(
    "/tokens",
    responses={
        **answers(201, QueueStatusPublic, "You joined the line."),
        **answers(200, QueueStatusPublic, "You already had a live token; here it is."),
        **documented(
            InvalidToken, TokenExpired, ConcertNotFound, SoldOut, ChallengeRequired, RateLimited
        ),
    },
    openapi_extra={
        "security": [{"AccessToken": []}],
        "requestBody": body_schema(QueueJoin, required=False),
    },
)
async def join(request: Request) -> Response:
    """Join the line (201), or get back your live place in it (200). With
    `{"concertId"}`, the line that concert is sold through. A line that asks for proof
    of work takes the solved challenge as `"proof"` (403 `challenge_required` without
    a valid, unused one); an address holding the line's most places, or joining too
    often, is answered 429 `rate_limited`."""
    user = await access_of(request)
    ask = _join_body(await raw_body(request))
    ctx = context_of(request)
    address = counted_address(request)
    await ctx.limits.hit("join_address", address)
    await ctx.limits.hit("join_account", str(user.user_id))
    status, created = await ctx.waiting_room.join(
        user_id=user.user_id,
        now=request_instant(request),
        concert_id=ask.concert_id,
        address=address,
        proof=ask.proof,
    )
    return json_response(status_body(status), status_code=201 if created else 200)


def _join_body(body: bytes) -> QueueJoin:
    if not body.strip():
        return QueueJoin()
    try:
        return QueueJoin.model_validate_json(body)
    except ValidationError as exc:
        raise ValidationFailed(problem_text(exc)) from None


def counted_address(request: Request) -> str:
    """What the line counts the client's places under: its IPv4 address, or its IPv6
    /64 (``address_key``), which one subscriber holds whole."""
    host = client_host(request)
    return address_key(host) if host else NO_ADDRESS


@router.get(
    "/challenge",
    responses={
        **answers(200, ChallengePublic, "A challenge to solve before joining this line."),
        **documented(InvalidToken, TokenExpired, ConcertNotFound),
    },
)
async def challenge(
    user: CurrentUser, ctx: Ctx, now: Now, concert_id: ConcertQuery = None
) -> ChallengePublic:
    """A proof-of-work challenge (ALTCHA v1) bound to you and to the line the concert
    is sold through (the default line without `concertId`), expiring: find `number`
    such that SHA-256(`salt` + number) is `challenge`, then join with `proof`, the
    base64 of `{algorithm, challenge, number, salt, signature}`. Each proof is taken
    once."""
    issued = await ctx.waiting_room.challenge(user_id=user.user_id, now=now, concert_id=concert_id)
    return ChallengePublic.model_validate(issued)


@polls.get(
    "/status",
    responses={
        **answers(200, QueueStatusPublic, "Where you stand."),
        **documented(InvalidToken, TokenExpired, RateLimited),
    },
    openapi_extra={"security": [{"QueueToken": []}]},
)
async def status(request: Request) -> Response:
    """Where you stand. Poll again after `pollAfterSeconds`; silence past `expiresAt`
    drops you from the line. A token polling far faster (`POLLS_PER_TOKEN`) is
    answered 429 `rate_limited` until its `Retry-After`."""
    token, claims = queue_token_of(request)
    ctx = context_of(request)
    ctx.limits.polls.hit(claims.jti)
    answer = await ctx.waiting_room.status(claims=claims, token=token)
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
        defences=body.defences(),
    )
    return WaitingRoomPublic.of(view)


@admin_router.get("/refusals", responses=documented(InvalidToken))
async def refusals(ctx: Ctx) -> RefusalsPublic:
    """Requests refused to keep the line fair, by reason, counted over every instance:
    an edge limit's name, `challenge_required`, `places_per_address`. The control room
    charts their rise over time."""
    return RefusalsPublic(reasons=await ctx.refusals.totals())


# An address as the line counts it: IPv4, or an IPv6 /64 ("2001:db8::/64", or any
# address in it).
Address = Annotated[str, Path(min_length=1, max_length=100, pattern=r"^[0-9A-Fa-f.:]+(/64)?$")]


@admin_router.delete(
    "/waiting-room/fans/{user_id}", status_code=204, responses=documented(InvalidToken, NotFound)
)
async def remove_fan(user_id: PathId, request: Request, ctx: Ctx) -> Response:
    """Take a fan out of the default line: their queue token answers 401
    `token_expired` from now on (404 `not_found` if they hold no place in it)."""
    await _evict(request, ctx, ctx.lines.line_for(None), user_id=user_id)
    return Response(status_code=204)


@admin_router.delete("/waiting-room/addresses/{address}", responses=documented(InvalidToken))
async def remove_address(address: Address, request: Request, ctx: Ctx) -> Removed:
    """Take every fan of one client address out of the default line."""
    return await _evict(request, ctx, ctx.lines.line_for(None), address=address)


async def _evict(
    request: Request,
    ctx: AppContext,
    line: str,
    *,
    user_id: int | None = None,
    address: str | None = None,
) -> Removed:
    if address is not None:
        address = address_key(address.removesuffix("/64"))
    removed = await ctx.control.evict(line=line, user_id=user_id, address=address)
    whom = f"fan {user_id}" if address is None else f"address {address}"
    audit.info(
        "operator at %s removed %s from line %s: %d place(s) (users %s)",
        client_host(request),
        whom,
        line,
        len(removed),
        ",".join(map(str, removed)) or "-",
    )
    if user_id is not None and not removed:
        raise NotFound(f"user {user_id} holds no place in this line")
    return Removed(removed_user_ids=removed)


CONCERT_LINE_ERRORS = documented(InvalidToken, ConcertNotFound, NotFound)
CONCERT_LINE_CHANGE_ERRORS = documented(InvalidToken, ConcertNotFound, LineOpen)


@admin_router.get("/concerts/{concert_id}/waiting-room", responses=CONCERT_LINE_ERRORS)
async def concert_waiting_room(concert_id: PathId, ctx: Ctx) -> ConcertWaitingRoomPublic:
    """A concert's own line (404 `not_found` if it is sold through the default line)."""
    return ConcertWaitingRoomPublic.of(
        await ctx.control.view(line=await _own_line(ctx, concert_id))
    )


async def _own_line(ctx: AppContext, concert_id: int) -> str:
    """The concert's own line; 404 ``not_found`` if it is sold through the default line."""
    await catalog.require_concert(db=ctx.db, concert_id=concert_id)
    if concert_id not in ctx.lines.concert_lines():
        await ctx.lines.refresh()
    line = ctx.lines.line_for(concert_id)
    if line == ctx.lines.line_for(None):
        raise NotFound(f"concert {concert_id} is sold through the default line")
    return line


@admin_router.put("/concerts/{concert_id}/waiting-room", responses=CONCERT_LINE_CHANGE_ERRORS)
async def set_concert_waiting_room(
    concert_id: PathId, body: ConcertWaitingRoomPatch, ctx: Ctx
) -> ConcertWaitingRoomPublic:
    """Give the concert a line of its own, or replace its settings (omitted ones take
    the defaults; no `salesOpenAt`: open at once)."""
    await catalog.require_concert(db=ctx.db, concert_id=concert_id)
    defaults = ctx.lines.defaults
    named = body.model_fields_set
    view = await ctx.control.configure(
        concert_id=concert_id,
        capacity=defaults.capacity if body.capacity is None else body.capacity,
        per_minute=defaults.per_minute
        if body.admission_per_minute is None
        else body.admission_per_minute,
        paused=bool(body.paused),
        opens_at=body.sales_open_at,
        defences=Defences(
            places_per_address=body.places_per_address
            if "places_per_address" in named
            else defaults.places_per_address,
            challenge=(body.challenge or ChallengeLevel.OFF).value,
        ),
    )
    return ConcertWaitingRoomPublic.of(view)


@admin_router.patch("/concerts/{concert_id}/waiting-room", responses=CONCERT_LINE_CHANGE_ERRORS)
async def change_concert_waiting_room(
    concert_id: PathId, body: ConcertWaitingRoomPatch, ctx: Ctx
) -> ConcertWaitingRoomPublic:
    """Change what is given; a concert without a line of its own gets one."""
    await catalog.require_concert(db=ctx.db, concert_id=concert_id)
    view = await ctx.control.configure(
        concert_id=concert_id,
        capacity=body.capacity,
        per_minute=body.admission_per_minute,
        paused=body.paused,
        opens_at=body.sales_open_at if "sales_open_at" in body.model_fields_set else Keep.KEEP,
        defences=body.defences(),
    )
    return ConcertWaitingRoomPublic.of(view)


@admin_router.delete(
    "/concerts/{concert_id}/waiting-room/fans/{user_id}",
    status_code=204,
    responses=CONCERT_LINE_ERRORS,
)
async def remove_concert_fan(
    concert_id: PathId, user_id: PathId, request: Request, ctx: Ctx
) -> Response:
    """Take a fan out of a concert's own line (404 `not_found` if they hold no place)."""
    await _evict(request, ctx, await _own_line(ctx, concert_id), user_id=user_id)
    return Response(status_code=204)


@admin_router.delete(
    "/concerts/{concert_id}/waiting-room/addresses/{address:path}",
    responses=CONCERT_LINE_ERRORS,
)
async def remove_concert_address(
    concert_id: PathId, address: Address, request: Request, ctx: Ctx
) -> Removed:
    """Take every fan of one client address out of a concert's own line."""
    return await _evict(request, ctx, await _own_line(ctx, concert_id), address=address)
