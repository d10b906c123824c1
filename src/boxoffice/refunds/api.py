from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Response

from boxoffice.errors import (
    AlreadyRefunded,
    IdempotencyKeyReused,
    InvalidToken,
    NotPaid,
    RefundClosed,
    ReservationNotFound,
    ScheduleNotFound,
    TokenExpired,
    documented,
)
from boxoffice.http.deps import Admin, AnyUser, Ctx, IdempotencyKey, Now
from boxoffice.http.schemas import PathId
from boxoffice.idempotency.api import mark_replayed
from boxoffice.refunds import service
from boxoffice.refunds.schemas import CancellationPublic, RefundPublic

router = APIRouter(prefix="/reservations", tags=["reservations"])
admin_router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[Admin])

REFUND_ERRORS = (ReservationNotFound, AlreadyRefunded, NotPaid, IdempotencyKeyReused)


@router.post(
    "/{reservation_id}/refund",
    responses=documented(InvalidToken, TokenExpired, RefundClosed, *REFUND_ERRORS),
)
async def refund(
    reservation_id: PathId,
    user_id: AnyUser,
    ctx: Ctx,
    now: Now,
    key: IdempotencyKey,
    response: Response,
) -> RefundPublic:
    """Hand a paid ticket back, with your access token or a live queue token, until
    `BOXOFFICE_REFUND_CUTOFF_HOURS` before the show: the price comes back as a REFUND
    entry and the seat is on sale again at once."""
    outcome = await service.refund_ticket(
        db=ctx.db,
        user_id=user_id,
        reservation_id=reservation_id,
        idempotency_key=key,
        cutoff=timedelta(hours=ctx.settings.refund_cutoff_hours),
        now=now,
    )
    ctx.catalog_cache.forget(outcome.value.concert_id)
    mark_replayed(outcome, response)
    return RefundPublic.model_validate(outcome.value)


@admin_router.post(
    "/reservations/{reservation_id}/refund", responses=documented(InvalidToken, *REFUND_ERRORS)
)
async def refund_any(
    reservation_id: PathId, ctx: Ctx, now: Now, key: IdempotencyKey, response: Response
) -> RefundPublic:
    """Refund any ticket, whenever (no cutoff)."""
    outcome = await service.refund_by_operator(
        db=ctx.db, reservation_id=reservation_id, idempotency_key=key, now=now
    )
    ctx.catalog_cache.forget(outcome.value.concert_id)
    mark_replayed(outcome, response)
    return RefundPublic.model_validate(outcome.value)


@admin_router.post(
    "/schedules/{schedule_id}/cancel", responses=documented(InvalidToken, ScheduleNotFound)
)
async def cancel_schedule(schedule_id: PathId, ctx: Ctx, now: Now) -> CancellationPublic:
    """Cancel a show: off sale, holds released, every ticket refunded. Safe to call
    again: nobody is refunded twice, and the totals come back the same."""
    cancellation = await service.cancel_schedule(db=ctx.db, schedule_id=schedule_id, now=now)
    ctx.catalog_cache.forget(cancellation.concert_id)
    return CancellationPublic.model_validate(cancellation)
