from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request, Response

from boxoffice.errors import (
    AlreadyPaid,
    HoldLimitReached,
    InvalidToken,
    NotAdmitted,
    OrderNotFound,
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
from boxoffice.orders import service
from boxoffice.orders.model import Order
from boxoffice.orders.schemas import OrderCreate, OrderPublic
from boxoffice.reservations.schemas import ReservationPublic

# Admitted fans order in the same minutes as they hold: routed flat and direct (see
# boxoffice.http.routing).
direct = APIRouter(prefix=f"{API_V1}/orders", tags=["orders"], route_class=DirectRoute)
router = APIRouter(prefix="/orders", tags=["orders"])


def _public(order: Order) -> OrderPublic:
    return OrderPublic(
        order_id=order.order_id,
        schedule_id=order.schedule_id,
        status=order.status,
        held_until=order.held_until,
        total=order.total,
        reservations=[ReservationPublic.model_validate(r) for r in order.reservations],
    )


@direct.post(
    "",
    responses={
        **answers(201, OrderPublic, "Every seat is yours until `heldUntil`."),
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
    openapi_extra={"security": [{"QueueToken": []}], "requestBody": body_schema(OrderCreate)},
)
async def place(request: Request) -> Response:
    """Hold several seats of one schedule together: every seat or none (409
    `seat_unavailable` names the seats taken in `seatIds` and `seatNumbers`). Each seat
    counts toward the hold limit. Pay them with one payment of the `orderId`."""
    _token, claims = queue_token_of(request)
    body = await body_of(request, OrderCreate)
    ctx, now = context_of(request), request_instant(request)
    order = await service.place_admitted(
        db=ctx.db,
        waiting_room=ctx.waiting_room,
        claims=claims,
        schedule_id=body.schedule_id,
        seat_ids=body.seat_ids or (),
        seat_numbers=body.seat_numbers or (),
        now=now,
        hold_for=timedelta(seconds=ctx.settings.hold_seconds),
        max_holds=ctx.settings.max_holds_per_user,
    )
    ctx.metrics.holds.inc(len(order.reservations))
    ctx.catalog_cache.forget(order.concert_id)
    return model_response(_public(order), status_code=201)


@router.get("/{order_id}", responses=documented(InvalidToken, TokenExpired, OrderNotFound))
async def get_order(order_id: PathId, user_id: AnyUser, ctx: Ctx, now: Now) -> OrderPublic:
    """Your order, with either your access token or your queue token."""
    return _public(await service.get_own(db=ctx.db, user_id=user_id, order_id=order_id, now=now))


@router.delete(
    "/{order_id}",
    status_code=204,
    responses=documented(InvalidToken, TokenExpired, OrderNotFound, AlreadyPaid),
)
async def release(order_id: PathId, live: LivePass, ctx: Ctx, now: Now) -> Response:
    """Give every held seat of the order back at once."""
    concert_id = await service.release(db=ctx.db, user_id=live.user_id, order_id=order_id, now=now)
    if concert_id is not None:
        ctx.catalog_cache.forget(concert_id)
    return Response(status_code=204)
