"""The express lane answers every request exactly as FastAPI's router would: the same
route, the same errors, the same record; it only skips the layers in between."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from fastapi import APIRouter, FastAPI, Request, Response

from boxoffice.app import create_app
from boxoffice.config import Settings
from boxoffice.errors import SeatUnavailable
from boxoffice.http.express import ExpressLane, express_routes
from boxoffice.http.problems import install_error_handlers
from boxoffice.http.routing import DirectRoute
from boxoffice.http.schemas import json_response
from tests.support import Api, FakeClock, serve


async def _direct(request: Request) -> Response:
    return json_response({"by": "direct", "params": request.path_params})


async def _refusing(_request: Request) -> Response:
    raise SeatUnavailable("taken")


async def _failing(_request: Request) -> Response:
    raise RuntimeError("a bug")


def _plain() -> dict[str, str]:
    return {"by": "router"}


def _app(*, lane: bool) -> FastAPI:
    app = FastAPI()
    app.router.routes.append(DirectRoute("/first", _direct, methods=["GET"]))
    # A fixed path the later direct pattern matches too: the router answers it here.
    app.add_api_route("/things/special", _plain, methods=["GET"])
    app.router.routes.append(DirectRoute("/things/{thing_id}", _direct, methods=["GET"]))
    app.router.routes.append(DirectRoute("/refused", _refusing, methods=["POST"]))
    app.router.routes.append(DirectRoute("/failing", _failing, methods=["GET"]))
    router = APIRouter()
    router.add_api_route("/late/{x}", _plain, methods=["GET"])
    app.include_router(router)
    # Behind an included router: left to the router, which would try that one first.
    app.router.routes.append(DirectRoute("/late/{x}", _direct, methods=["GET"]))
    if lane:
        app.add_middleware(ExpressLane, owner=app)
    install_error_handlers(app)
    return app


def test_the_lane_takes_only_the_direct_routes_no_earlier_route_can_take_from() -> None:
    paths = [route.path for route in express_routes(_app(lane=True))]
    assert paths == ["/first"]
    # The pattern shadowed by a fixed path stops the lane there (and so does the
    # included router after it): what the router chooses is left to the router.


def test_a_direct_pattern_after_fixed_paths_it_does_not_match_is_taken() -> None:
    app = FastAPI()
    app.add_api_route("/elsewhere", _plain, methods=["GET"])
    app.router.routes.append(DirectRoute("/things/{thing_id}", _direct, methods=["GET"]))
    assert [route.path for route in express_routes(app)] == ["/things/{thing_id}"]


REQUESTS = [
    ("GET", "/first"),
    ("POST", "/first"),  # another method: 405 from the router
    ("GET", "/things/special"),
    ("GET", "/things/7"),
    ("POST", "/refused"),
    ("GET", "/failing"),
    ("GET", "/late/3"),
    ("GET", "/nowhere"),
]


async def _answers(app: FastAPI) -> list[tuple[int, str, bytes]]:
    async with serve(app) as client:
        found = []
        for method, path in REQUESTS:
            r = await client.request(method, path)
            found.append((r.status_code, r.headers.get("content-type", ""), r.content))
        return found


async def test_every_request_is_answered_as_without_the_lane() -> None:
    with_lane, without = await _answers(_app(lane=True)), await _answers(_app(lane=False))
    assert with_lane == without
    by_path = dict(zip(REQUESTS, with_lane, strict=True))
    assert by_path[("GET", "/things/special")][2] == b'{"by":"router"}'
    assert by_path[("GET", "/things/7")][2] == b'{"by":"direct","params":{"thing_id":"7"}}'
    assert by_path[("POST", "/refused")][0] == 409
    assert b'"code":"seat_unavailable"' in by_path[("POST", "/refused")][2]
    assert by_path[("GET", "/failing")][0] == 500
    assert by_path[("POST", "/first")][0] == 405


async def test_a_failing_direct_endpoint_keeps_the_connection() -> None:
    async with serve(_app(lane=True)) as client:
        assert (await client.get("/failing")).status_code == 500
        assert (await client.get("/first")).status_code == 200


def test_every_direct_route_of_the_app_is_on_the_lane(
    make_settings: Callable[..., Settings],
) -> None:
    app = create_app(make_settings())
    direct = [route for route in app.router.routes if isinstance(route, DirectRoute)]
    assert direct
    assert list(express_routes(app)) == direct


async def test_requests_on_the_lane_are_counted_under_their_route(api: Api) -> None:
    fan = await api.register()
    assert (await api.client.get("/api/v1/wallet", headers=fan.access)).status_code == 200
    metrics = (await api.client.get("/metrics")).text
    assert 'route="/api/v1/wallet",status="200"' in metrics


async def test_the_real_apps_answers_do_not_depend_on_the_lane(
    make_settings: Callable[..., Settings], clock: FakeClock
) -> None:
    def without_lane(app: FastAPI) -> FastAPI:
        lane: object = ExpressLane
        app.user_middleware = [m for m in app.user_middleware if m.cls is not lane]
        return app

    async def answers(app: FastAPI) -> list[tuple[int, bytes]]:
        async with serve(app) as client:
            calls = [
                client.get("/api/v1/wallet"),  # no token
                client.get("/api/v1/wallet", headers={"Authorization": "Bearer nonsense"}),
                client.delete("/api/v1/wallet"),
                client.post("/api/v1/payments", content=b"{", headers={"Authorization": "x"}),
                client.get("/api/v1/concerts/abc/schedules"),
                client.get("/api/v1/queue/status"),
            ]
            found: list[httpx.Response] = [await call for call in calls]
            return [(r.status_code, r.content) for r in found]

    settings = make_settings()
    assert await answers(create_app(settings, clock=clock)) == await answers(
        without_lane(create_app(settings, clock=clock))
    )
