"""How the endpoints a sale calls again and again are routed.

A status poll's own work (verify a cached token, look the fan up in memory) costs
less than FastAPI spends around it, and so does a balance read or a hold's one
statement. Those endpoints skip two layers of it:

- ``DirectRoute`` runs the endpoint on the ``Request`` and sends the ``Response`` it
  returns: no dependencies to solve, nothing to validate or serialise on the way out.
  The endpoint reads what it needs with the helpers below, each as strict as the
  dependency it replaces. FastAPI still documents the route from its decorator; what
  a direct route cannot honour (dependencies, a status code, a response model to
  validate against) it refuses at startup instead of ignoring.
- ``add_flat`` puts a router's routes on the app itself. An included router is
  matched through a layer of FastAPI's own that costs about a fifth of a bare
  endpoint's time on the benchmark machine, paid by every request it serves.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Sequence
from typing import Any, TypeVar

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from starlette.routing import BaseRoute, Match
from starlette.types import Scope

from boxoffice.errors import ValidationFailed
from boxoffice.http.schemas import ID_RULE, MAX_INT64, decimal_id

API_V1 = "/api/v1"

Endpoint = Callable[[Request], Coroutine[Any, Any, Response]]
M = TypeVar("M", bound=BaseModel)


class DirectRoute(APIRoute):
    """A route whose endpoint takes the ``Request`` and returns its ``Response``."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        ignored = [
            name
            for name in ("dependencies", "status_code", "response_model")
            if _given(kwargs.get(name))
        ]
        if ignored:
            raise TypeError(
                f"a DirectRoute ({path}) does not run {', '.join(ignored)}: check in the "
                "endpoint, and document answers with responses={status: {'model': ...}}"
            )
        super().__init__(path, endpoint, **kwargs)

    def get_route_handler(self) -> Endpoint:
        endpoint: Endpoint = self.endpoint
        return endpoint


def _given(value: object) -> bool:
    if value is None or (isinstance(value, Sequence) and not value):
        return False
    # FastAPI passes its ``Default`` placeholder when nothing was given.
    return type(value).__name__ != "DefaultPlaceholder"


def add_flat(app: FastAPI, router: APIRouter) -> None:
    """Add ``router``'s routes to ``app`` as its own, in order, instead of including
    the router. Its routes must carry their whole path (prefix ``API_V1``) and tags,
    as routes declared on an ``APIRouter`` do."""
    app.router.routes.extend(router.routes)


def path_id(request: Request, name: str) -> int:
    """An id from the path, read as ``PathId`` reads one for a FastAPI route."""
    value = decimal_id(request.path_params[name])
    if value is None:
        raise ValidationFailed(f"path.{name}: {ID_RULE}")
    return value


def path_id_parameter(name: str) -> dict[str, Any]:
    """The OpenAPI entry for an id ``path_id`` reads: a direct route's endpoint has no
    typed parameters for FastAPI to describe."""
    return {
        "in": "path",
        "name": name,
        "required": True,
        "schema": {
            "type": "integer",
            "minimum": 1,
            "maximum": MAX_INT64,
            "title": name.replace("_", " ").title(),
        },
    }


# The methods an ``Allow`` header may name, in the order it names them.
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(routes: Sequence[BaseRoute], scope: Scope) -> list[str]:
    """The methods some route answers at ``scope``'s path, each tried as the router
    tries it; HEAD wherever GET is (the express lane answers it so)."""

    def answered(method: str) -> bool:
        probe = {
            "type": "http",
            "method": method,
            "path": scope["path"],
            "root_path": scope.get("root_path", ""),
            "headers": [],
        }
        return any(route.matches(probe)[0] is Match.FULL for route in routes)

    allowed = [method for method in METHODS if method != "HEAD" and answered(method)]
    if "GET" in allowed:
        allowed.insert(1, "HEAD")
    return allowed


def problem_text(error: ValidationError) -> str:
    """What a 422 says about a body that did not validate (its first few problems)."""
    parts = []
    for err in error.errors()[:5]:
        where = ".".join(str(p) for p in err.get("loc", ())) or "body"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "; ".join(parts)


async def raw_body(request: Request) -> bytes:
    """The request's body, not waited for when its head says it has none (a length of
    0, or neither a length nor chunks): a join's empty POST is a sale's commonest."""
    headers = request.headers
    if headers.get("content-length", "0") == "0" and "transfer-encoding" not in headers:
        return b""
    return await request.body()


async def body_of(request: Request, model: type[M]) -> M:
    """The request's JSON body as ``model``, or 422 as FastAPI would answer it."""
    raw = await raw_body(request)
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise ValidationFailed(problem_text(exc)) from None


def body_schema(model: type[BaseModel], *, required: bool = True) -> dict[str, Any]:
    """The OpenAPI ``requestBody`` of a direct route that reads ``model`` (a flat one:
    its schema is written inline)."""
    schema = model.model_json_schema(by_alias=True)
    assert "$defs" not in schema, f"{model.__name__}: inline only flat request models"
    return {"required": required, "content": {"application/json": {"schema": schema}}}


def answers(status: int, model: type[BaseModel], description: str) -> dict[int | str, Any]:
    """The OpenAPI entry for a direct route's answer of ``model``."""
    return {status: {"model": model, "description": description}}


def model_response(model: BaseModel, *, status_code: int = 200) -> Response:
    """A model on the wire (camelCase), serialised once by pydantic's own encoder."""
    return Response(
        model.model_dump_json(by_alias=True), status_code=status_code, media_type="application/json"
    )
