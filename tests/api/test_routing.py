"""Direct routes: refused where they would ignore what they were given, and their
hand-built answers held to the models the OpenAPI document promises."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi import APIRouter, Depends, Request, Response

from boxoffice.http.routing import DirectRoute
from boxoffice.queue.model import QueueState
from boxoffice.queue.schemas import QueueStatusPublic, status_body
from boxoffice.queue.service import QueueStatus


async def _endpoint(request: Request) -> Response:
    return Response()


async def _deny() -> None:
    raise AssertionError("never run by a direct route")


@pytest.mark.parametrize(
    "given",
    [{"dependencies": [Depends(_deny)]}, {"status_code": 201}, {"response_model": dict}],
    ids=["dependencies", "status_code", "response_model"],
)
def test_a_direct_route_refuses_what_it_would_ignore(given: dict[str, object]) -> None:
    router = APIRouter(route_class=DirectRoute)
    with pytest.raises(TypeError, match="does not run"):
        router.add_api_route("/x", _endpoint, **given)  # type: ignore[arg-type]


def test_a_routers_dependencies_are_refused_too() -> None:
    router = APIRouter(route_class=DirectRoute, dependencies=[Depends(_deny)])
    with pytest.raises(TypeError, match="dependencies"):
        router.add_api_route("/x", _endpoint)


def _status(*, concert_id: int | None, state: QueueState, position: int | None) -> QueueStatus:
    return QueueStatus(
        token="t",
        state=state,
        position=position,
        estimated_wait_seconds=None,
        poll_after_seconds=3,
        expires_at=datetime(2026, 12, 24, 19, tzinfo=UTC),
        concert_id=concert_id,
        sales_open_at=None,
        seats_left=None if concert_id is None else 7,
        paused=False,
    )


@pytest.mark.parametrize(
    "answer",
    [
        _status(concert_id=None, state=QueueState.WAITING, position=4),
        _status(concert_id=9, state=QueueState.PRE_QUEUE, position=None),
        _status(concert_id=9, state=QueueState.SOLD_OUT, position=None),
    ],
)
def test_a_status_answer_is_exactly_what_its_model_says(answer: QueueStatus) -> None:
    body = status_body(answer)
    parsed = QueueStatusPublic.model_validate(body)
    assert parsed.model_dump(mode="json", by_alias=True, exclude_unset=True) == body
    aliases = {field.alias for field in QueueStatusPublic.model_fields.values()}
    assert set(body) <= aliases
    if answer.concert_id is not None:  # a concert's line answers every field
        assert set(body) == aliases
