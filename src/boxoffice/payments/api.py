from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel

from boxoffice.errors import (
    AlreadyPaid,
    HoldExpired,
    IdempotencyKeyReused,
    InsufficientBalance,
    InvalidToken,
    NotAdmitted,
    OrderNotFound,
    PartOfOrder,
    ReservationNotFound,
    TokenExpired,
    documented,
)
from boxoffice.http.deps import (
    IDEMPOTENCY_KEY_PARAMETER,
    context_of,
    idempotency_key_of,
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
from boxoffice.idempotency.api import mark_replayed
from boxoffice.idempotency.service import Outcome
from boxoffice.payments import service
from boxoffice.payments.model import OrderPaymentResult, PaymentResult
from boxoffice.payments.schemas import (
    OrderPaymentPublic,
    PaymentAnswer,
    PaymentCreate,
    PaymentPublic,
)

# Every hold of a sale is paid within minutes of it: routed flat and direct (see
# boxoffice.http.routing).
direct = APIRouter(prefix=f"{API_V1}/payments", tags=["payments"], route_class=DirectRoute)


@direct.post(
    "",
    responses={
        **answers(201, PaymentAnswer, "Paid: the seat, or every seat of the order, is yours."),
        **documented(
            InvalidToken,
            TokenExpired,
            NotAdmitted,
            ReservationNotFound,
            OrderNotFound,
            HoldExpired,
            PartOfOrder,
            AlreadyPaid,
            InsufficientBalance,
            IdempotencyKeyReused,
        ),
    },
    openapi_extra={
        "security": [{"QueueToken": []}],
        "parameters": [IDEMPOTENCY_KEY_PARAMETER],
        "requestBody": body_schema(PaymentCreate),
    },
)
async def pay(request: Request) -> Response:
    """Pay for a held seat (`reservationId`), or for every seat of an order (`orderId`:
    all or none), from the wallet. When no live hold is left, the queue token is spent:
    the visit is over. A retry with the same `Idempotency-Key` gets the first answer
    back, even after the token was spent by that first payment."""
    _token, claims = queue_token_of(request)
    key = idempotency_key_of(request)
    body = await body_of(request, PaymentCreate)
    ctx, now = context_of(request), request_instant(request)
    outcome: Outcome[PaymentResult] | Outcome[OrderPaymentResult]
    if body.order_id is not None:
        outcome = await service.checkout_order(
            db=ctx.db,
            waiting_room=ctx.waiting_room,
            claims=claims,
            order_id=body.order_id,
            idempotency_key=key,
            now=now,
        )
        public: BaseModel = OrderPaymentPublic.model_validate(outcome.value)
    else:
        assert body.reservation_id is not None
        outcome = await service.checkout(
            db=ctx.db,
            sales=ctx.sales,
            waiting_room=ctx.waiting_room,
            claims=claims,
            reservation_id=body.reservation_id,
            idempotency_key=key,
            now=now,
        )
        public = PaymentPublic.model_validate(outcome.value)
    ctx.catalog_cache.forget(outcome.value.concert_id)
    if not outcome.replayed:
        ctx.metrics.payments.inc()
        ctx.metrics.points_paid.inc(outcome.value.amount)
    answer = model_response(public)
    mark_replayed(outcome, answer)
    return answer
