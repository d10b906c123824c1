"""A fan's record: the support desk finds one by email or user id (admin token), and a
fan lists their own reservations (access token), so a fan signed in on a new device
sees the tickets they bought on another."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from boxoffice.errors import InvalidToken, NotFound, TokenExpired, ValidationFailed, documented
from boxoffice.http.deps import Admin, Ctx, CurrentUser, Now
from boxoffice.http.schemas import MAX_INT64
from boxoffice.support import service
from boxoffice.support.schemas import FanPublic, FanReservationPublic, MyReservations

router = APIRouter()


@router.get(
    "/admin/fans",
    tags=["admin"],
    dependencies=[Admin],
    responses=documented(InvalidToken, NotFound, ValidationFailed),
)
async def find_fan(
    ctx: Ctx,
    now: Now,
    email: Annotated[str | None, Query(max_length=254)] = None,
    user_id: Annotated[int | None, Query(alias="userId", ge=1, le=MAX_INT64)] = None,
) -> FanPublic:
    """One fan by `email` or `userId` (exactly one of them): who they are, their
    balance, and their newest reservations, payments and ledger entries."""
    if (email is None) == (user_id is None):
        raise ValidationFailed("query: give exactly one of email and userId")
    record = await service.find_fan(db=ctx.db, now=now, user_id=user_id, email=email)
    return FanPublic.model_validate(record)


@router.get(
    "/reservations",
    tags=["reservations"],
    responses=documented(InvalidToken, TokenExpired),
)
async def my_reservations(user: CurrentUser, ctx: Ctx, now: Now) -> MyReservations:
    """Your reservations, newest first (at most 200), on whichever device you signed in."""
    found = await service.my_reservations(db=ctx.db, user_id=user.user_id, now=now)
    return MyReservations(items=[FanReservationPublic.model_validate(r) for r in found])
