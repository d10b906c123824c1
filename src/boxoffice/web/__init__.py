"""The fan's pages and the operator's control room: static files on the public API."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from fastapi import FastAPI, Request, Response

from boxoffice.errors import NotFound
from boxoffice.web.site import (
    ASSET_CACHE,
    ASSETS_PATH,
    PAGE_CACHE,
    StaticFile,
    load_site,
)


def mount_pages(app: FastAPI, *, embedding_origins: Sequence[str] = ()) -> None:
    """Serve ``/`` (the fan's visit, which ``embedding_origins`` may frame) and
    ``/operator`` (the control room), and their assets under ``/assets/<version>/``.
    Added after every API route, so nothing here can shadow one; kept out of the
    OpenAPI schema."""
    site = load_site(embedding_origins=embedding_origins)

    def page_endpoint(page: StaticFile, policy: str) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            response = _send(request, page, cache=PAGE_CACHE)
            response.headers["Content-Security-Policy"] = policy
            response.headers["Referrer-Policy"] = "no-referrer"
            return response

        return endpoint

    for path, page in site.pages.items():
        endpoint = page_endpoint(page, site.policies[path])
        app.add_api_route(path, endpoint, methods=["GET"], include_in_schema=False)

    async def asset(request: Request, version: str, name: str) -> Response:
        found = site.assets.get(name) if version == site.version else None
        if found is None:
            raise NotFound("no such asset in this release")
        return _send(request, found, cache=ASSET_CACHE)

    app.add_api_route(
        f"{ASSETS_PATH}/{{version}}/{{name}}", asset, methods=["GET"], include_in_schema=False
    )


def _send(request: Request, file: StaticFile, *, cache: str) -> Response:
    zipped = "gzip" in request.headers.get("accept-encoding", "")
    etag = file.etag[:-1] + '-gz"' if zipped else file.etag
    headers = {
        "Cache-Control": cache,
        "ETag": etag,
        "Vary": "Accept-Encoding",
        "X-Content-Type-Options": "nosniff",
    }
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    if zipped:
        headers["Content-Encoding"] = "gzip"
    return Response(
        file.gzipped if zipped else file.body, media_type=file.media_type, headers=headers
    )
