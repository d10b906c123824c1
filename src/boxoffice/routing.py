"""How the few endpoints every fan in a sale calls again and again are routed.

A status poll's own work (verify a cached token, look the fan up in memory) costs
less than FastAPI spends around it, so those endpoints skip two layers of it:

- ``DirectRoute`` runs the endpoint on the ``Request`` and sends the ``Response`` it
  returns: no dependencies to solve, nothing to validate or serialise on the way
  out. FastAPI still documents the route from its decorator.
- ``add_flat`` puts a router's routes on the app itself. An included router is
  matched through a layer of FastAPI's own that costs about a fifth of a bare
  endpoint's time on the benchmark machine, paid by every request it serves.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.routing import APIRoute

from boxoffice.errors import ValidationFailed
from boxoffice.schemas import MAX_INT64

API_V1 = "/api/v1"

Endpoint = Callable[[Request], Coroutine[Any, Any, Response]]


class DirectRoute(APIRoute):
    """A route whose endpoint takes the ``Request`` and returns its ``Response``; it
    checks whatever it reads from the request itself."""

    def get_route_handler(self) -> Endpoint:
        endpoint: Endpoint = self.endpoint
        return endpoint


def add_flat(app: FastAPI, router: APIRouter) -> None:
    """Add ``router``'s routes to ``app`` as its own, in order, instead of including
    the router. Its routes must carry their whole path (prefix ``API_V1``), tags and
    dependencies, as routes declared on an ``APIRouter`` do."""
    app.router.routes.extend(router.routes)


def path_id(request: Request, name: str) -> int:
    """An id from the path, held to what storage accepts (1 to 2**63 - 1)."""
    text: str = request.path_params[name]
    value = int(text) if text.isascii() and text.isdigit() and len(text) <= 19 else 0
    if not 1 <= value <= MAX_INT64:
        raise ValidationFailed(f"path.{name}: must be a whole number from 1 to {MAX_INT64}")
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
