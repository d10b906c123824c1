from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from boxoffice.deps import Ctx, CurrentUser, IdempotencyKey, Now
from boxoffice.errors import (
    BalanceLimitExceeded,
    IdempotencyKeyReused,
    InvalidToken,
    TokenExpired,
    documented,
)
from boxoffice.idempotency.api import mark_replayed
from boxoffice.wallet import service
from boxoffice.wallet.schemas import (
    ChargePublic,
    ChargeRequest,
    TransactionList,
    WalletPublic,
)

router = APIRouter(prefix="/wallet", tags=["wallet"])


@router.get("", responses=documented(InvalidToken, TokenExpired))
async def get_wallet(user: CurrentUser, ctx: Ctx) -> WalletPublic:
    balance = await service.get_balance(db=ctx.db, user_id=user.user_id)
    return WalletPublic(user_id=user.user_id, balance=balance)


@router.post(
    "/charges",
    responses=documented(InvalidToken, TokenExpired, BalanceLimitExceeded, IdempotencyKeyReused),
)
async def charge(
    body: ChargeRequest,
    user: CurrentUser,
    ctx: Ctx,
    now: Now,
    key: IdempotencyKey,
    response: Response,
) -> ChargePublic:
    """Add points. With an `Idempotency-Key`, a retry is applied once and answered the same."""
    outcome = await service.charge(
        db=ctx.db,
        user_id=user.user_id,
        amount=body.amount,
        max_charge=ctx.settings.max_charge,
        max_balance=ctx.settings.max_balance,
        idempotency_key=key,
        now=now,
    )
    mark_replayed(outcome, response)
    return ChargePublic.model_validate(outcome.value)


@router.get("/transactions", responses=documented(InvalidToken, TokenExpired))
async def transactions(
    user: CurrentUser,
    ctx: Ctx,
    limit: Annotated[int, Query(ge=1, le=500, description="Newest first.")] = 100,
) -> TransactionList:
    entries = await service.history(db=ctx.db, user_id=user.user_id, limit=limit)
    return TransactionList.model_validate({"items": entries})
