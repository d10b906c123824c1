"""The operator's sales view."""

from __future__ import annotations

from fastapi import APIRouter

from boxoffice.deps import Admin, Ctx, Now
from boxoffice.errors import InvalidToken, documented
from boxoffice.sales import service
from boxoffice.sales.schemas import ConcertSalesPublic, SalesPublic

router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[Admin])


@router.get("/sales", responses=documented(InvalidToken))
async def sales(ctx: Ctx, now: Now) -> SalesPublic:
    """Per concert and schedule: seats sold, held and available right now, and revenue
    (the sum of completed payments). The counts of a schedule add up to its seats."""
    found = await service.sales(db=ctx.db, now=now)
    return SalesPublic(concerts=[ConcertSalesPublic.of(c) for c in found])
