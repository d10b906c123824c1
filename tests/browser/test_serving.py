"""How the pages are served: beside the API, never over it, and cached so that a
sale's crowd fetches each asset once."""

from __future__ import annotations

import re
from collections.abc import Callable
from importlib.resources import files

import httpx
import pytest
from playwright.async_api import expect

from tests.browser.conftest import Pages, Server

ASSET = re.compile(r'(?:href|src)="(/assets/[0-9a-f]+/[\w.-]+)"')


def requests_to(metrics: str, route: str) -> int:
    pattern = re.compile(
        r'^boxoffice_http_requests_total\{method="GET",route="' + re.escape(route) + r'",'
        r'status="(\d+)"\} ([\d.]+)$',
        re.MULTILINE,
    )
    return sum(int(float(count)) for _, count in pattern.findall(metrics))


async def test_pages_revalidate_and_assets_are_immutable_under_a_release_url(
    start_server: Callable[..., Server],
) -> None:
    server = start_server()
    async with httpx.AsyncClient(base_url=server.url) as client:
        for path, script in (("/", "fan.js"), ("/operator", "operator.js")):
            page = await client.get(path)
            assert page.status_code == 200
            assert page.headers["content-type"] == "text/html; charset=utf-8"
            assert page.headers["cache-control"] == "no-cache"
            csp = page.headers["content-security-policy"]
            assert "script-src 'self'" in csp and "connect-src 'self'" in csp
            assert "<script>" not in page.text and "{{assets}}" not in page.text
            again = await client.get(path, headers={"If-None-Match": page.headers["etag"]})
            assert (again.status_code, again.content) == (304, b"")

            assets = ASSET.findall(page.text)
            assert any(a.endswith(f"/{script}") for a in assets), assets
            for url in assets:
                asset = await client.get(url)
                assert asset.status_code == 200, url
                assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"
                assert asset.headers["content-encoding"] == "gzip"  # httpx asks for it
                assert asset.headers["x-content-type-options"] == "nosniff"

        stale = await client.get("/assets/000000000000/fan.js")
        assert (stale.status_code, stale.json()["code"]) == (404, "not_found")
        missing = await client.get(assets[0].rsplit("/", 1)[0] + "/nothing.js")
        assert missing.status_code == 404


async def test_the_pages_shadow_nothing_of_the_api_and_stay_out_of_its_schema(
    start_server: Callable[..., Server],
) -> None:
    server = start_server()
    async with httpx.AsyncClient(base_url=server.url) as client:
        unknown = await client.get("/api/v1/unknown")
        assert unknown.status_code == 404
        assert unknown.headers["content-type"] == "application/problem+json"
        assert unknown.json()["code"] == "not_found"
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        assert (await client.get("/docs")).status_code == 200
        paths = (await client.get("/openapi.json")).json()["paths"]
        assert "/api/v1/concerts" in paths
        assert not [
            p for p in paths if not p.startswith(("/api/", "/healthz", "/readyz", "/metrics"))
        ]


def _page_files(page: str) -> set[str]:
    """The files a page loads: those its HTML names under the assets URL, and every
    module those import, transitively."""
    folder = files("boxoffice.web") / "static"
    wanted = set(re.findall(r"\{\{assets\}\}/([\w.-]+)", (folder / page).read_text()))
    found: set[str] = {page}
    while wanted:
        name = wanted.pop()
        if name in found:
            continue
        found.add(name)
        if name.endswith(".js"):
            wanted |= set(re.findall(r'from "\./([\w.-]+)"', (folder / name).read_text()))
    return found


@pytest.mark.parametrize("page", ["fan.html", "operator.html"])
def test_each_page_weighs_well_under_100_kb(page: str) -> None:
    """Everything a fan's (or the operator's) browser fetches for the page, before
    compression: the page, its style sheet, icon and every module it imports."""
    folder = files("boxoffice.web") / "static"
    loaded = _page_files(page)
    assert "style.css" in loaded and "api.js" in loaded  # the walk finds what it should
    # i18n.js fetches the texts of the page's language alone (the control room's own
    # besides, on its page): count the heavier language.
    part = ["-operator"] if page == "operator.html" else []
    language = max(
        sum(len((folder / f"text-{lang}{name}.js").read_bytes()) for name in ["", *part])
        for lang in ("en", "ko")
    )
    assert not {name for name in loaded if name.startswith("text-")}
    total = sum(len((folder / name).read_bytes()) for name in loaded) + language
    assert total < 100_000, (total, sorted(loaded))


async def test_a_fan_who_reloads_fetches_the_assets_once(
    start_server: Callable[..., Server], pages: Pages
) -> None:
    server = start_server()
    fan = await pages.open(server)
    await expect(fan.page.get_by_role("heading", name="Sign in")).to_be_visible()
    metrics = (await server.api.client.get("/metrics")).text
    first = requests_to(metrics, "/assets/{version}/{name}")
    assert first >= 8  # the page's modules, style sheet and icon

    for _ in range(3):
        await fan.page.reload()
        await expect(fan.page.get_by_role("heading", name="Sign in")).to_be_visible()
    metrics = (await server.api.client.get("/metrics")).text
    assert requests_to(metrics, "/assets/{version}/{name}") == first
    assert requests_to(metrics, "/") == 4  # the page itself is asked after each time
