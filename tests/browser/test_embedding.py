"""The fan page in the ticketing site's frame: the site (a page of another origin, named
in EMBEDDING_ORIGINS) hands it the token of its own identity provider by postMessage,
and the fan is signed in with no form of boxoffice's; a lapsed token is renewed by
asking the site. A token posted by any other origin is never used.

The site is the test's own: a page on another loopback port (another origin), its
identity provider the JWKS and signing keys of tests/api/test_oidc.py."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from playwright.async_api import Frame, FrameLocator, Page, Request, expect

from tests.api.test_oidc import AUDIENCE, ISSUER, Issuer, _serve_jwks
from tests.browser.conftest import Pages, Server
from tests.support import FakeClock

# The site's page: the fan page in a frame, and (for the control) a frame of a third
# origin beside it. It answers the page's ready and renew with a token from /token,
# unless opened with ?wait, when the test says when (window.answer()).
SITE_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>The ticketing site</title>
<link rel="icon" href="data:,"></head>
<body>
<iframe id="box" src="{box}/" width="1100" height="900"></iframe>
<iframe id="other" src="{other}/other" width="200" height="100"></iframe>
<script>
const BOX = "{box}";
const frame = document.getElementById("box");
window.heard = [];
window.answer = async () => {{
  const token = await (await fetch("/token")).text();
  frame.contentWindow.postMessage({{ type: "boxoffice:token", accessToken: token }}, BOX);
}};
addEventListener("message", (event) => {{
  if (event.origin !== BOX || event.source !== frame.contentWindow) return;
  window.heard.push(event.data.type);
  if (!location.search.includes("wait")) window.answer();
}});
</script>
</body></html>"""
OTHER_PAGE = '<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,"><p>other</p>'


@dataclass
class Site:
    """The embedding site's pages on a loopback port of their own, and the tokens its
    page hands out, one per /token (a fresh one for Mina when none is queued)."""

    issuer: Issuer
    box: str = ""
    other: str = ""
    origin: str = ""
    queued: list[str] = field(default_factory=list)
    handed: int = 0

    def token(self, *, lasts: int = 600, sub: str = "mina") -> str:
        # The issuer's tokens are good LEEWAY_SECONDS (30) past their exp.
        now = int(time.time())
        return self.issuer.token("ec-1", sub=sub, iat=now, exp=now + lasts - 30)

    def next_token(self) -> str:
        self.handed += 1
        return self.queued.pop(0) if self.queued else self.token()


@contextmanager
def _serve(site: Site) -> Iterator[str]:
    """A loopback HTTP server for the site's pages; its origin."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?")[0]
            if path == "/":
                body = SITE_PAGE.format(box=site.box, other=site.other).encode()
                kind = "text/html; charset=utf-8"
            elif path == "/other":
                body, kind = OTHER_PAGE.encode(), "text/html; charset=utf-8"
            elif path == "/token":
                body, kind = site.next_token().encode(), "text/plain"
            else:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def site() -> Iterator[Site]:
    found = Site(Issuer(FakeClock()))
    with _serve_jwks(found.issuer), _serve(found) as origin, _serve(found) as other:
        found.origin, found.other = origin, other
        yield found


@pytest.fixture
def embedded_server(start_server: Callable[..., Server], site: Site) -> Server:
    """boxoffice with the site's identity provider, framed by the site's origin alone
    (not by the third origin, which is another port)."""
    server = start_server(
        oidc_issuer=ISSUER,
        oidc_audience=AUDIENCE,
        oidc_jwks_url=site.issuer.url,
        embedding_origins=site.origin,
    )
    site.box = server.url
    return server


def _box(page: Page) -> FrameLocator:
    return page.frame_locator("#box")


def _frame(page: Page, origin: str) -> Frame:
    [found] = [f for f in page.frames if f.url.startswith(origin + "/")]
    return found


async def _charge(server: Server, token: str, amount: int) -> None:
    r = await server.api.client.post(
        "/api/v1/wallet/charges",
        json={"amount": amount},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 200, r.text


async def test_the_site_signs_its_fan_in_through_the_frame_with_no_form_of_ours(
    embedded_server: Server, site: Site, pages: Pages
) -> None:
    await _charge(embedded_server, site.token(), 20_000)
    opened = await pages.open(embedded_server, site.origin + "/")
    page = opened.page
    box = _box(page)
    await expect(box.locator("#who")).to_have_text("Hi, Mina")
    await expect(box.locator("#balance")).to_have_text("20,000 points")
    await expect(box.locator("#concerts")).to_be_visible()
    for own in ("#signin", "#signin-form", "#modes", "#signout", "#save"):
        await expect(box.locator(own)).to_be_hidden()
    assert await page.evaluate("() => window.heard") == ["boxoffice:ready"]
    saved = await _frame(page, embedded_server.url).evaluate(
        "() => JSON.stringify({ ...localStorage }) + document.cookie"
    )
    assert "eyJ" not in saved and "accessToken" not in saved, saved  # no token kept


async def test_a_lapsed_token_is_renewed_by_asking_the_site_and_the_call_goes_through(
    embedded_server: Server, site: Site, pages: Pages
) -> None:
    site.queued.append(site.token(lasts=6))
    handed_at = time.monotonic()
    opened = await pages.open(embedded_server, site.origin + "/")
    opened.expect(401, "/api/v1/wallet/charges")  # the lapsed token's one refusal
    box = _box(opened.page)
    await expect(box.locator("#balance")).to_have_text("0 points")
    await asyncio.sleep(max(0.0, handed_at + 7 - time.monotonic()))
    await box.get_by_role("button", name="Charge 10,000 points").click()
    await expect(box.locator("#balance")).to_have_text("10,000 points")
    assert await opened.page.evaluate("() => window.heard") == [
        "boxoffice:ready",
        "boxoffice:renew",
    ]
    assert site.handed == 2


async def test_a_token_posted_by_a_third_origin_is_ignored(
    embedded_server: Server, site: Site, pages: Pages
) -> None:
    opened = await pages.open(embedded_server, site.origin + "/?wait")
    page = opened.page
    asked: list[str] = []

    def note(request: Request) -> None:
        if "/api/v1/wallet" in request.url:
            asked.append(request.url)

    page.on("request", note)
    await page.wait_for_function("() => window.heard.includes('boxoffice:ready')")
    third = _frame(page, site.other)
    token = site.token(sub="intruder")
    await third.evaluate(
        """([token, box]) => {
            const fan = window.parent.frames[0];
            fan.postMessage({ type: "boxoffice:token", accessToken: token }, box);
            fan.postMessage({ type: "boxoffice:token", accessToken: token }, "*");
        }""",
        [token, embedded_server.url],
    )
    await asyncio.sleep(1.5)
    assert asked == []
    box = _box(page)
    await expect(box.locator("#who")).to_be_hidden()

    # The control: the same message from the site itself is taken.
    await page.evaluate("() => window.answer()")
    await expect(box.locator("#who")).to_have_text("Hi, Mina")
    assert asked  # the page reads the fan the site's token names
