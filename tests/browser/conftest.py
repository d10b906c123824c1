"""A real ``boxoffice serve`` (embedded shape, demo catalog) and Debian's Chromium
driven by Playwright. Every page is watched: a console error, an uncaught exception,
a request that fails, or an answer of 400 or more that its test did not say it
expects fails the test. On failure each open page's screenshot is written to the
test's tmp dir and its path printed."""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import (
    Browser,
    ConsoleMessage,
    Page,
    Request,
    Response,
    ViewportSize,
    async_playwright,
)

from tests.integration.instances import Instance, instance_env
from tests.support import Api, FakeClock

CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags Chromium keeps dialling out, and this
# machine's closed network refuses those connections.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# The production shape's Redis, as tests/conftest.py names it.
REDIS_URL = os.environ.get("BOXOFFICE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
PHONE: ViewportSize = {"width": 390, "height": 844}
DESKTOP: ViewportSize = {"width": 1280, "height": 900}


@dataclass
class Server:
    url: str
    api: Api
    instance: Instance

    def restart(self) -> None:
        """Stop ``boxoffice serve`` and start a new one on the same port and database."""
        self.instance.stop()
        self.instance.start()
        self.instance.wait_ready()


FAILED_LOAD = re.compile(r"Failed to load resource: the server responded with a status of \d+")


@dataclass
class Watched:
    """What went wrong on one page, and which problem answers the test expects."""

    name: str
    page: Page
    expected: list[tuple[int, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def expect(self, status: int, path: str) -> None:
        """An answer ``status`` from a URL containing ``path`` is part of the test."""
        self.expected.append((status, path))

    def on_console(self, message: ConsoleMessage) -> None:
        # Chromium logs every 4xx answer as a console error; answers are judged below.
        if message.type == "error" and not FAILED_LOAD.search(message.text):
            self.problems.append(f"console error: {message.text}")

    def on_page_error(self, error: Exception) -> None:
        self.problems.append(f"uncaught: {error}")

    def on_request_failed(self, request: Request) -> None:
        if request.failure == "net::ERR_ABORTED":
            return  # the page itself left it (a reload or a navigation while it loaded)
        self.problems.append(f"request failed: {request.method} {request.url} {request.failure}")

    def on_response(self, response: Response) -> None:
        if response.status < 400:
            return
        if any(response.status == s and p in response.url for s, p in self.expected):
            return
        self.problems.append(f"unexpected answer {response.status}: {response.url}")


class Pages:
    """Browser contexts for one test (one per fan or operator), all watched."""

    def __init__(self, browser: Browser) -> None:
        self.browser = browser
        self.watched: list[Watched] = []

    async def open(
        self,
        server: Server,
        path: str = "/",
        *,
        name: str = "fan",
        locale: str = "en-US",
        phone: bool = False,
        timezone_id: str = "Asia/Seoul",
    ) -> Watched:
        context = await self.browser.new_context(
            base_url=server.url,
            locale=locale,
            viewport=PHONE if phone else DESKTOP,
            timezone_id=timezone_id,
        )
        page = await context.new_page()
        watched = Watched(name, page)
        page.on("console", watched.on_console)
        page.on("pageerror", watched.on_page_error)
        page.on("requestfailed", watched.on_request_failed)
        page.on("response", watched.on_response)
        self.watched.append(watched)
        await page.goto(path)
        return watched

    def problems(self) -> list[str]:
        return [f"[{w.name}] {p}" for w in self.watched for p in w.problems]

    async def screenshots(self, folder: Path) -> list[Path]:
        taken = []
        for number, watched in enumerate(self.watched):
            path = folder / f"{number}-{watched.name}.png"
            try:
                await watched.page.screenshot(path=str(path), full_page=True)
            except Exception as exc:  # a page that crashed has no picture to give
                print(f"no screenshot of {watched.name}: {exc}")
                continue
            taken.append(path)
        return taken

    async def close(self) -> None:
        for watched in self.watched:
            await watched.page.context.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """Start ``boxoffice serve`` with settings of the test's own (``hold_seconds="5"``):
    the embedded shape, or the production one with ``postgres=(postgres_url,
    redis_prefix)``, the test's own database and Redis key space."""
    started: list[Instance] = []

    def start(*, postgres: tuple[str, str] | None = None, **settings: str) -> Server:
        database_url, prefix = postgres or (f"sqlite:///{tmp_path}/boxoffice.db", "unused:")
        env = instance_env(
            database_url=database_url,
            redis_url=REDIS_URL if postgres else "",
            redis_prefix=prefix,
            load_demo_data="true",
            access_log="false",
            **settings,
        )
        if not postgres:
            del env["BOXOFFICE_REDIS_URL"]
        instance = Instance(env, tmp_path, f"serve{len(started)}")
        started.append(instance)
        instance.start()
        instance.wait_ready()
        client = httpx.AsyncClient(base_url=instance.url, timeout=30)
        return Server(url=instance.url, api=Api(client, FakeClock()), instance=instance)

    yield start
    for instance in started:
        instance.stop()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        await chromium.close()


@pytest.fixture
async def pages(
    browser: Browser, request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[Pages]:
    """The test's pages; checked for problems and pictured on failure afterwards."""
    opened = Pages(browser)
    yield opened
    report = getattr(request.node, "report_call", None)
    problems = opened.problems()
    if problems or (report is not None and report.failed):
        for path in await opened.screenshots(tmp_path):
            print(f"screenshot: {path}")
    await opened.close()
    assert not problems, "\n".join(problems)


async def keep_screenshot(watched: Watched, name: str) -> None:
    """With BOXOFFICE_SCREENSHOTS set to a folder, save this page there as NAME.png
    (how docs/fan-page.png and docs/operator-page.png are made); Playwright makes
    the folder."""
    folder = os.environ.get("BOXOFFICE_SCREENSHOTS")
    if folder:
        await watched.page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)
