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
from boxoffice.payments import service
from boxoffice.payments.schemas import PaymentCreate, PaymentPublic
from boxoffice.reservations import service as reservations

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
    if key is not None:
        earlier = await service.replay(
            db=ctx.db,
            user_id=claims.user_id,
            reservation_id=body.reservation_id,
            idempotency_key=key,
        )
        if earlier is not None:
            response.status_code = earlier.status_code
            response.headers["Idempotent-Replayed"] = "true"
            return PaymentPublic.of(earlier.value)
    admitted = await ctx.waiting_room.check(claims=claims, now=now, admitted=True)
    outcome = await service.pay(
        db=ctx.db,
        user_id=admitted.user_id,
        reservation_id=body.reservation_id,
        idempotency_key=key,
        now=now,
    )
    if outcome.replayed:
        response.status_code = outcome.status_code
        response.headers["Idempotent-Replayed"] = "true"
    else:
        ctx.metrics.payments.inc()
        ctx.metrics.points_paid.inc(outcome.value.amount)
        if await reservations.live_holds(db=ctx.db, user_id=admitted.user_id, now=now) == 0:
            await ctx.waiting_room.spend(user_id=admitted.user_id, jti=admitted.jti, now=now)
    return PaymentPublic.of(outcome.value)
