"""The API's documentation pages, /docs (Swagger UI) and /redoc, work on a network
that reaches nothing but the server: everything they load is the server's own."""

from __future__ import annotations

import re
from collections.abc import Callable

from playwright.async_api import Route, expect

from boxoffice.app import create_app
from boxoffice.config import Settings
from tests.browser.conftest import Pages, Server, Watched
from tests.support import ADMIN_TOKEN, SECRET_KEY, serve

LOADED = re.compile(r'(?:href|src)="([^"]+)"')
REDOC_LOGO = "cdn.redoc.ly/redoc/logo-mini.svg"


async def offline(watched: Watched, server: Server) -> list[str]:
    """Refuse the page every request to another origin, as a closed network would;
    the list of those it tried."""
    tried: list[str] = []

    async def only_the_server(route: Route) -> None:
        url = route.request.url
        if url == server.url or url.startswith(server.url + "/"):
            await route.continue_()
        else:
            tried.append(url)
            await route.abort()

    await watched.page.route("**/*", only_the_server)
    return tried


async def test_swagger_ui_lists_the_operations_without_leaving_the_server(
    start_server: Callable[..., Server], pages: Pages
) -> None:
    server = start_server()
    watched = await pages.open(server, "/healthz")
    elsewhere = await offline(watched, server)
    await watched.page.goto("/docs")
    operations = watched.page.locator(".opblock")
    await expect(operations.first).to_be_visible()
    assert await operations.count() > 20
    await expect(
        watched.page.locator(".opblock-summary-path", has_text="/api/v1/queue/tokens").first
    ).to_be_visible()
    assert elsewhere == []


async def test_redoc_shows_the_reference_without_leaving_the_server(
    start_server: Callable[..., Server], pages: Pages
) -> None:
    server = start_server()
    watched = await pages.open(server, "/healthz")
    page = watched.page
    elsewhere = await offline(watched, server)
    # ReDoc's footer asks for its logo from cdn.redoc.ly whatever it is told: the
    # page's policy refuses it before it leaves, and the footer goes on without it.
    async with (
        page.expect_console_message(lambda m: REDOC_LOGO in m.text),
        page.expect_event("requestfailed", lambda r: REDOC_LOGO in r.url),
    ):
        await page.goto("/redoc")
    await expect(page.locator(".api-content")).to_be_visible()
    await expect(page.get_by_text("/api/v1/queue/tokens").first).to_be_attached()
    assert elsewhere == []
    refused = [p for p in watched.problems if REDOC_LOGO in p]
    assert all("Content Security Policy" in p or p.endswith(" csp") for p in refused), refused
    watched.problems = [p for p in watched.problems if p not in refused]


async def test_the_docs_pages_load_only_same_origin_urls_that_answer(sqlite_url: str) -> None:
    settings = Settings(
        database_url=sqlite_url,
        secret_key=SECRET_KEY,
        admin_token=ADMIN_TOKEN,
        load_demo_data=False,
    )
    async with serve(create_app(settings)) as client:
        for page in ("/docs", "/redoc"):
            answer = await client.get(page)
            loaded = LOADED.findall(answer.text)
            assert len(loaded) >= 2, answer.text  # a script, and a style sheet or an icon
            for url in loaded:
                assert url.startswith("/") and not url.startswith("//"), url
                assert (await client.get(url)).status_code == 200, url
            assert "img-src 'self' data:" in answer.headers["content-security-policy"]
        # Swagger UI's badge from the online validator would hand it the document's URL.
        assert '"validatorUrl": null' in (await client.get("/docs")).text
