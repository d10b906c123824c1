from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request, Response

from boxoffice.errors import (
    AlreadyPaid,
    HoldLimitReached,
    InvalidToken,
    NotAdmitted,
    ReservationNotFound,
    ScheduleNotFound,
    SeatNotFound,
    SeatUnavailable,
    TokenExpired,
    documented,
)
from boxoffice.http.deps import (
    AnyUser,
    Ctx,
    LivePass,
    Now,
    context_of,
    queue_token_of,
    request_instant,
)
from boxoffice.http.routing import (
    API_V1,
    DirectRoute,
    answers,
    body_of,
    body_schema,
    model_response,
)
from boxoffice.http.schemas import PathId
from boxoffice.reservations import service
from boxoffice.reservations.schemas import ReservationCreate, ReservationPublic

# Every admitted fan holds seats in the same minutes: routed flat and direct (see
# boxoffice.http.routing).
direct = APIRouter(prefix=f"{API_V1}/reservations", tags=["reservations"], route_class=DirectRoute)
router = APIRouter(prefix="/reservations", tags=["reservations"])


@direct.post(
    "",
    responses={
        **answers(201, ReservationPublic, "The seat is yours until `heldUntil`."),
        **documented(
            InvalidToken,
            TokenExpired,
            NotAdmitted,
            ScheduleNotFound,
            SeatNotFound,
            SeatUnavailable,
            HoldLimitReached,
        ),
    },
    openapi_extra={
        "security": [{"QueueToken": []}],
        "requestBody": body_schema(ReservationCreate),
    },
)
async def hold(request: Request) -> Response:
    """Hold a seat until `heldUntil`; pay before then or it goes back on sale."""
    _token, claims = queue_token_of(request)
    body = await body_of(request, ReservationCreate)
    ctx = context_of(request)
    reservation = await service.hold_admitted(
        holds=ctx.holds,
        waiting_room=ctx.waiting_room,
        claims=claims,
        schedule_id=body.schedule_id,
        seat_id=body.seat_id,
        seat_number=body.seat_number,
        now=request_instant(request),
        hold_for=timedelta(seconds=ctx.settings.hold_seconds),
        max_holds=ctx.settings.max_holds_per_user,
    )
    ctx.metrics.holds.inc()
    ctx.catalog_cache.forget(reservation.concert_id)
    return model_response(ReservationPublic.model_validate(reservation), status_code=201)


@router.get(
    "/{reservation_id}",
    responses=documented(InvalidToken, TokenExpired, ReservationNotFound),
)
async def get_reservation(
    reservation_id: PathId, user_id: AnyUser, ctx: Ctx, now: Now
) -> ReservationPublic:
    """Your reservation, with either your access token or your queue token."""
    reservation = await service.get_own(
        db=ctx.db, user_id=user_id, reservation_id=reservation_id, now=now
    )
    return ReservationPublic.model_validate(reservation)


@router.delete(
    "/{reservation_id}",
    status_code=204,
    responses=documented(InvalidToken, TokenExpired, ReservationNotFound, AlreadyPaid),
)
async def release(reservation_id: PathId, live: LivePass, ctx: Ctx, now: Now) -> Response:
    """Give the seat back at once."""
    concert_id = await service.release(
        db=ctx.db, user_id=live.user_id, reservation_id=reservation_id, now=now
    )
    if concert_id is not None:
        ctx.catalog_cache.forget(concert_id)
    return Response(status_code=204)
