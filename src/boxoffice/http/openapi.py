"""The OpenAPI document's one statement for every operation (storage may be busy), and
the pages that show the document: Swagger UI at ``/docs``, ReDoc at ``/redoc``."""

from __future__ import annotations

from importlib.resources import files
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

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


# Swagger UI's and ReDoc's scripts, style and icon, as the fastapi-offline distribution
# ships them: served from here, the pages work on a closed network and tell no CDN who
# reads them.
DOCS_ASSETS = "/docs/assets"
DOCS_ASSET_FILES = files("fastapi_offline") / "static"
# What is left pointing elsewhere stays in: ReDoc's footer logo (cdn.redoc.ly), and
# anything a description or a server in the document might point at.
DOCS_POLICY = "img-src 'self' data:; connect-src 'self'"


def serve_docs(app: FastAPI, *, docs_url: str = "/docs", redoc_url: str = "/redoc") -> None:
    """The pages FastAPI would add (for an app made with ``docs_url=None, redoc_url=None``),
    loading nothing from another origin. ReDoc's web font is left out (it falls back to
    the system's sans-serif), and so is Swagger UI's badge from the online validator,
    which would hand validator.swagger.io the document's URL."""
    app.mount(DOCS_ASSETS, StaticFiles(directory=str(DOCS_ASSET_FILES)), name="docs-assets")
    redirect_url = app.swagger_ui_oauth2_redirect_url

    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        page = get_swagger_ui_html(
            openapi_url=root + app.openapi_url if app.openapi_url else "",
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{root}{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{root}{DOCS_ASSETS}/favicon.png",
            oauth2_redirect_url=root + redirect_url if redirect_url else None,
            init_oauth=app.swagger_ui_init_oauth,
            swagger_ui_parameters={**(app.swagger_ui_parameters or {}), "validatorUrl": None},
        )
        page.headers["Content-Security-Policy"] = DOCS_POLICY
        return page

    async def swagger_ui_redirect(request: Request) -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        page = get_redoc_html(
            openapi_url=root + app.openapi_url if app.openapi_url else "",
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{DOCS_ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{DOCS_ASSETS}/favicon.png",
            with_google_fonts=False,
        )
        page.headers["Content-Security-Policy"] = DOCS_POLICY
        return page

    app.add_route(docs_url, swagger_ui, include_in_schema=False)
    if redirect_url:
        app.add_route(redirect_url, swagger_ui_redirect, include_in_schema=False)
    app.add_route(redoc_url, redoc, include_in_schema=False)
