from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from boxoffice.errors import (
    BalanceLimitExceeded,
    IdempotencyKeyReused,
    InvalidToken,
    TokenExpired,
    documented,
)
from boxoffice.http.deps import (
    IDEMPOTENCY_KEY_PARAMETER,
    Ctx,
    CurrentUser,
    access_of,
    context_of,
    idempotency_key_of,
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
from boxoffice.wallet import service
from boxoffice.wallet.schemas import ChargePublic, ChargeRequest, TransactionList, WalletPublic

# A sale's fans read their balance and charge it in bursts: routed flat and direct
# (see boxoffice.http.routing).
direct = APIRouter(prefix=f"{API_V1}/wallet", tags=["wallet"], route_class=DirectRoute)
router = APIRouter(prefix="/wallet", tags=["wallet"])
ACCESS: dict[str, Any] = {"security": [{"AccessToken": []}]}


@direct.get(
    "",
    responses={
        **answers(200, WalletPublic, "Your balance."),
        **documented(InvalidToken, TokenExpired),
    },
    openapi_extra=ACCESS,
)
async def get_wallet(request: Request) -> Response:
    user = await access_of(request)
    balance = await context_of(request).balances.of(user.user_id)
    return model_response(WalletPublic(user_id=user.user_id, balance=balance))


@direct.post(
    "/charges",
    responses={
        **answers(200, ChargePublic, "The points were added (or, for a retry, had been)."),
        **documented(InvalidToken, TokenExpired, BalanceLimitExceeded, IdempotencyKeyReused),
    },
    openapi_extra={
        **ACCESS,
        "parameters": [IDEMPOTENCY_KEY_PARAMETER],
        "requestBody": body_schema(ChargeRequest),
    },
)
async def charge(request: Request) -> Response:
    """Add points. With an `Idempotency-Key`, a retry is applied once and answered the same."""
    user = await access_of(request)
    key = idempotency_key_of(request)
    body = await body_of(request, ChargeRequest)
    ctx = context_of(request)
    outcome = await service.charge(
        db=ctx.db,
        charges=ctx.charges,
        user_id=user.user_id,
        amount=body.amount,
        max_charge=ctx.settings.max_charge,
        max_balance=ctx.settings.max_balance,
        idempotency_key=key,
        now=request_instant(request),
    )
    answer = model_response(ChargePublic.model_validate(outcome.value))
    mark_replayed(outcome, answer)
    return answer


@router.get("/transactions", responses=documented(InvalidToken, TokenExpired))
async def transactions(
    user: CurrentUser,
    ctx: Ctx,
    limit: Annotated[int, Query(ge=1, le=500, description="Newest first.")] = 100,
) -> TransactionList:
    entries = await service.history(db=ctx.db, user_id=user.user_id, limit=limit)
    return TransactionList.model_validate({"items": entries})
