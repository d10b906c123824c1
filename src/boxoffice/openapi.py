"""The OpenAPI document's one statement for every operation: storage may be busy."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from boxoffice.errors import Busy, Problem

BUSY_RESPONSE = {
    "description": "Problem code `busy`: the database or the waiting-room store is "
    "unreachable or too slow; retry after `Retry-After` seconds. Any endpoint may answer it.",
    "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds."}},
    "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
}


def document_busy(app: FastAPI) -> None:
    """Say once, in ``components.responses``, that any endpoint may answer 503 ``busy``,
    and refer every operation to it."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            components = schema.setdefault("components", {})
            components.setdefault("schemas", {}).setdefault("Problem", Problem.model_json_schema())
            components.setdefault("responses", {})[Busy.code.title()] = BUSY_RESPONSE
            for operations in schema.get("paths", {}).values():
                for operation in operations.values():
                    operation.setdefault("responses", {})[str(Busy.status)] = {
                        "$ref": f"#/components/responses/{Busy.code.title()}"
                    }
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
