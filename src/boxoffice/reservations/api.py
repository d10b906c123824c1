from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Path, Response

from boxoffice.deps import Admitted, AnyUser, Ctx, LivePass, Now
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
from boxoffice.reservations import service
from boxoffice.reservations.schemas import ReservationCreate, ReservationPublic
from boxoffice.schemas import MAX_INT64

router = APIRouter(prefix="/reservations", tags=["reservations"])

ReservationId = Annotated[int, Path(ge=1, le=MAX_INT64)]


@router.post(
    "",
    status_code=201,
    responses=documented(
        InvalidToken,
        TokenExpired,
        NotAdmitted,
        ScheduleNotFound,
        SeatNotFound,
        SeatUnavailable,
        HoldLimitReached,
    ),
)
async def hold(
    body: ReservationCreate, admitted: Admitted, ctx: Ctx, now: Now
) -> ReservationPublic:
    """Hold a seat until `heldUntil`; pay before then or it goes back on sale."""
    reservation = await service.hold_seat(
        db=ctx.db,
        user_id=admitted.user_id,
        schedule_id=body.schedule_id,
        seat_id=body.seat_id,
        seat_number=body.seat_number,
        now=now,
        hold_for=timedelta(seconds=ctx.settings.hold_seconds),
        max_holds=ctx.settings.max_holds_per_user,
        check_concert=lambda concert_id: ctx.waiting_room.require_line(admitted, concert_id),
    )
    ctx.metrics.holds.inc()
    return ReservationPublic.model_validate(reservation)


@router.get(
    "/{reservation_id}",
    responses=documented(InvalidToken, TokenExpired, ReservationNotFound),
)
async def get_reservation(
    reservation_id: ReservationId, user_id: AnyUser, ctx: Ctx, now: Now
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
async def release(reservation_id: ReservationId, live: LivePass, ctx: Ctx, now: Now) -> Response:
    """Give the seat back at once."""
    await service.release(db=ctx.db, user_id=live.user_id, reservation_id=reservation_id, now=now)
    return Response(status_code=204)
