from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter

from boxoffice.errors import documented
from boxoffice.http.deps import Ctx, Now
from boxoffice.users import service
from boxoffice.users.schemas import UserCreate, UserCreated

router = APIRouter(tags=["users"])


@router.post("/users", status_code=201, responses=documented())
async def register(body: UserCreate, ctx: Ctx, now: Now) -> UserCreated:
    """Register a fan; the answer carries their access token."""
    registration = await service.register(
        db=ctx.db,
        signer=ctx.signer,
        name=body.name,
        now=now,
        token_ttl=timedelta(seconds=ctx.settings.access_token_ttl_seconds),
    )
    return UserCreated.model_validate(registration)
