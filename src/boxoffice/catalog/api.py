from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Request, Response
from pydantic import TypeAdapter, ValidationError

from boxoffice.catalog import service
from boxoffice.catalog.model import SeatStatus
from boxoffice.catalog.schemas import (
    ConcertCreate,
    ConcertList,
    ConcertPublic,
    ScheduleCreate,
    ScheduleCreated,
    ScheduleList,
    SeatMapPublic,
)
from boxoffice.errors import (
    ConcertNotFound,
    InvalidToken,
    NotAdmitted,
    ScheduleNotFound,
    TokenExpired,
    ValidationFailed,
    documented,
)
from boxoffice.http.deps import (
    Admin,
    Ctx,
    check_queue_token,
    context_of,
    request_instant,
    token_from_header,
)
from boxoffice.http.routing import API_V1, DirectRoute, answers, path_id, path_id_parameter
from boxoffice.http.schemas import Day, PathId

# Every admitted fan lists schedules and reads seat maps again and again: routed
# flat and direct (see boxoffice.http.routing).
seat_maps = APIRouter(prefix=f"{API_V1}/concerts", tags=["catalog"], route_class=DirectRoute)
router = APIRouter(prefix="/concerts", tags=["catalog"])
admin_router = APIRouter(prefix="/admin/concerts", tags=["admin"], dependencies=[Admin])

GATED = (InvalidToken, TokenExpired, NotAdmitted)


@router.get("")
async def list_concerts(ctx: Ctx) -> ConcertList:
    return ConcertList.model_validate({"items": await service.list_concerts(db=ctx.db)})


@seat_maps.get(
    "/{concert_id}/schedules",
    responses={
        **answers(200, ScheduleList, "The bookable schedules."),
        **documented(*GATED, ConcertNotFound),
    },
    openapi_extra={
        "security": [{"QueueToken": []}],
        "parameters": [
            path_id_parameter("concert_id"),
            {
                "in": "query",
                "name": "date",
                "required": False,
                "description": "Only schedules on this UTC date.",
                "schema": {"type": "string", "format": "date"},
            },
        ],
    },
)
async def schedules(request: Request) -> Response:
    """Schedules that can still be booked, with live seat counts. Like the seat map,
    it may trail the database by up to `BOXOFFICE_SEAT_MAP_CACHE_MS` (but never the
    fan's own hold, release or purchase made through the same instance)."""
    concert_id = path_id(request, "concert_id")
    on = _date(request.query_params.get("date"))
    token = token_from_header(request.headers.get("authorization"))
    await check_queue_token(request, token, admitted=True, concert_id=concert_id)
    ctx, now = context_of(request), request_instant(request)

    async def fill() -> bytes:
        found = await service.bookable_schedules(db=ctx.db, concert_id=concert_id, on=on, now=now)
        return ScheduleList.of(found).model_dump_json(by_alias=True).encode()

    body = await ctx.catalog_cache.get_or_fill((concert_id, "schedules", on, None), fill)
    return Response(body, media_type="application/json")


_DAY: TypeAdapter[date] = TypeAdapter(Day)


def _date(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return _DAY.validate_python(text)
    except ValidationError as exc:
        raise ValidationFailed(f"query.date: {exc.errors()[0]['msg']}") from None


@seat_maps.get(
    "/{concert_id}/schedules/{schedule_id}/seats",
    responses={
        **answers(200, SeatMapPublic, "The seat map."),
        **documented(*GATED, ConcertNotFound, ScheduleNotFound),
    },
    openapi_extra={
        "security": [{"QueueToken": []}],
        "parameters": [
            path_id_parameter("concert_id"),
            path_id_parameter("schedule_id"),
            {
                "in": "query",
                "name": "status",
                "required": False,
                "description": "Only seats in this state.",
                "schema": {"$ref": "#/components/schemas/SeatStatus"},
            },
        ],
    },
)
async def seats(request: Request) -> Response:
    """The seat map. It may trail the database by up to `BOXOFFICE_SEAT_MAP_CACHE_MS`
    (default 0.5 s); a hold is always decided by the database."""
    concert_id = path_id(request, "concert_id")
    schedule_id = path_id(request, "schedule_id")
    status = _seat_status(request.query_params.get("status"))
    token = token_from_header(request.headers.get("authorization"))
    await check_queue_token(request, token, admitted=True, concert_id=concert_id)
    ctx, now = context_of(request), request_instant(request)

    async def fill() -> bytes:
        seat_map = await service.seat_map(
            db=ctx.db, concert_id=concert_id, schedule_id=schedule_id, only=status, now=now
        )
        public = SeatMapPublic.of(seat_map, hold_limit=ctx.settings.max_holds_per_user)
        return public.model_dump_json(by_alias=True).encode()

    body = await ctx.catalog_cache.get_or_fill((concert_id, "seats", schedule_id, status), fill)
    return Response(body, media_type="application/json")


def _seat_status(text: str | None) -> SeatStatus | None:
    if text is None:
        return None
    try:
        return SeatStatus(text)
    except ValueError:
        choices = ", ".join(SeatStatus)
        raise ValidationFailed(f"query.status: must be one of {choices}") from None


@admin_router.post("", status_code=201, responses=documented(InvalidToken))
async def add_concert(body: ConcertCreate, ctx: Ctx) -> ConcertPublic:
    concert = await service.add_concert(
        db=ctx.db,
        title=body.title,
        venue=body.venue,
        time_zone=body.time_zone or ctx.settings.default_time_zone,
    )
    return ConcertPublic.model_validate(concert)


@admin_router.post(
    "/{concert_id}/schedules",
    status_code=201,
    responses=documented(InvalidToken, ConcertNotFound),
)
async def add_schedule(concert_id: PathId, body: ScheduleCreate, ctx: Ctx) -> ScheduleCreated:
    """A schedule with seats numbered 1..N: `seatCount` seats at one `price`, or a
    plan's seats in plan order (section by section, row by row), each priced by its
    row's grade."""
    created = await service.add_schedule(
        db=ctx.db, concert_id=concert_id, concert_at=body.concert_at, plan=body.plan()
    )
    ctx.catalog_cache.forget(concert_id)
    return ScheduleCreated.model_validate(created)
