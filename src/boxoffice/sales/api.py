"""The operator's sales view."""

from __future__ import annotations

from fastapi import APIRouter

from boxoffice.errors import InvalidToken, documented
from boxoffice.http.deps import Admin, Ctx, Now
from boxoffice.sales import service
from boxoffice.sales.schemas import ConcertSalesPublic, SalesPublic

router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[Admin])


@router.get("/sales", responses=documented(InvalidToken))
async def sales(ctx: Ctx, now: Now) -> SalesPublic:
    """Per concert and schedule: seats sold, held and available right now, and revenue
    (completed payments of tickets not refunded). The counts of a schedule on sale add
    up to its seats; a cancelled one (`cancelledAt`) has nothing held or available."""
    found = await service.sales(db=ctx.db, now=now)
    return SalesPublic(concerts=[ConcertSalesPublic.of(c) for c in found])
