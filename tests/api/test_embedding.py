"""The fan page in the ticketing site's frame (EMBEDDING_ORIGINS): framed by nobody
unless the operator names the site's origins, and then by those alone, which the page
is told so that it takes a token from them and nobody else. The control room is never
framed."""

from __future__ import annotations

import re
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import httpx
import pytest
from pydantic import ValidationError

from boxoffice.app import create_app
from boxoffice.config import Settings
from tests.support import ADMIN_TOKEN, SECRET_KEY, serve

SITE = "https://www.example.com"
SHOP = "http://127.0.0.1:8080"
META = re.compile(r'<meta name="boxoffice-embedding-origins" content="([^"]*)">')

Pages = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def pages(sqlite_url: str) -> Pages:
    def started(embedding_origins: str = "") -> AbstractAsyncContextManager[httpx.AsyncClient]:
        return serve(
            create_app(
                Settings(
                    database_url=sqlite_url,
                    secret_key=SECRET_KEY,
                    admin_token=ADMIN_TOKEN,
                    load_demo_data=False,
                    embedding_origins=embedding_origins,
                )
            )
        )

    return started


def _frame_ancestors(page: httpx.Response) -> str:
    directives = [d.strip() for d in page.headers["content-security-policy"].split(";")]
    [found] = [d for d in directives if d.startswith("frame-ancestors ")]
    return found.removeprefix("frame-ancestors ")


def _listed(page: httpx.Response) -> str:
    found = META.search(page.text)
    assert found is not None, page.text[:500]
    return found[1]


async def test_by_default_no_site_may_frame_either_page(pages: Pages) -> None:
    async with pages() as client:
        fan, operator = await client.get("/"), await client.get("/operator")
    assert _frame_ancestors(fan) == _frame_ancestors(operator) == "'none'"
    assert _listed(fan) == ""
    assert "{{" not in fan.text


async def test_the_named_origins_alone_may_frame_the_fan_page_and_the_page_knows_them(
    pages: Pages,
) -> None:
    async with pages(embedding_origins=f"{SITE}, {SHOP}") as client:
        fan, operator = await client.get("/"), await client.get("/operator")
    assert _frame_ancestors(fan) == f"{SITE} {SHOP}"
    assert _listed(fan) == f"{SITE} {SHOP}"
    assert _frame_ancestors(operator) == "'none'"  # the control room is never framed
    assert "script-src 'self'" in fan.headers["content-security-policy"]


def test_origins_are_kept_as_a_browser_names_them() -> None:
    settings = Settings(
        secret_key=SECRET_KEY,
        embedding_origins="HTTPS://WWW.Example.com:443,http://[::1]:8080, ,http://shop.test:80",
    )
    assert settings.embedding_origin_list == [
        "https://www.example.com",
        "http://[::1]:8080",
        "http://shop.test",
    ]
    assert Settings(secret_key=SECRET_KEY).embedding_origin_list == []


@pytest.mark.parametrize(
    "given",
    [
        "https://www.example.com/",
        "https://www.example.com/fans",
        "www.example.com",
        "ftp://www.example.com",
        "https://*.example.com",
        "https://user@www.example.com",
        "https://www.example.com:99999",
        "https://www.example.com?x=1",
        "'none'",
        'https://a.example.com" onload="x',
        "https://a.example.com; script-src *",
    ],
)
def test_anything_but_an_origin_is_refused(given: str) -> None:
    with pytest.raises(ValidationError, match="is not an origin"):
        Settings(secret_key=SECRET_KEY, embedding_origins=given)
