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


TOO_LARGE_RESPONSE = {
    "description": "Problem code `payload_too_large`: the body is larger than "
    "`BOXOFFICE_MAX_BODY_BYTES` (refused before it is read when its length is given).",
    "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
}


def document_busy(app: FastAPI) -> None:
    """Say once, in ``components.responses``, that any endpoint may answer 503 ``busy``
    (and any that takes a body, 413 ``payload_too_large``), and refer every operation
    to it."""

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
            responses = components.setdefault("responses", {})
            responses["Busy"], responses["PayloadTooLarge"] = BUSY_RESPONSE, TOO_LARGE_RESPONSE
            for operations in schema.get("paths", {}).values():
                for operation in operations.values():
                    answers = operation.setdefault("responses", {})
                    answers[str(Busy.status)] = {"$ref": "#/components/responses/Busy"}
                    if "requestBody" in operation:
                        answers["413"] = {"$ref": "#/components/responses/PayloadTooLarge"}
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
