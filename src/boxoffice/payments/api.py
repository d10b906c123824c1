from __future__ import annotations

from fastapi import APIRouter, Response

from boxoffice.deps import Ctx, IdempotencyKey, Now, QueueToken
from boxoffice.errors import (
    AlreadyPaid,
    HoldExpired,
    IdempotencyKeyReused,
    InsufficientBalance,
    InvalidToken,
    NotAdmitted,
    ReservationNotFound,
    TokenExpired,
    documented,
)
from boxoffice.idempotency.api import mark_replayed
from boxoffice.payments import service
from boxoffice.payments.schemas import PaymentCreate, PaymentPublic

router = APIRouter(prefix="/payments", tags=["payments"])


@router.post(
    "",
    status_code=201,
    responses=documented(
        InvalidToken,
        TokenExpired,
        NotAdmitted,
        ReservationNotFound,
        HoldExpired,
        AlreadyPaid,
        InsufficientBalance,
        IdempotencyKeyReused,
    ),
)
async def pay(
    body: PaymentCreate,
    claims: QueueToken,
    ctx: Ctx,
    now: Now,
    key: IdempotencyKey,
    response: Response,
) -> PaymentPublic:
    """Pay for a held seat from the wallet. When no live hold is left, the queue token
    is spent: the visit is over. A retry with the same `Idempotency-Key` gets the first
    answer back, even after the token was spent by that first payment."""
    outcome = await service.checkout(
        db=ctx.db,
        waiting_room=ctx.waiting_room,
        claims=claims,
        reservation_id=body.reservation_id,
        idempotency_key=key,
        now=now,
    )
    mark_replayed(outcome, response)
    if not outcome.replayed:
        ctx.metrics.payments.inc()
        ctx.metrics.points_paid.inc(outcome.value.amount)
    return PaymentPublic.model_validate(outcome.value)
