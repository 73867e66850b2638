"""The console's browser tests: Debian's Chromium driven by Playwright against the shared live server.

One browser per test session (a launch costs ~0.3 s and ~500 MB); a fresh context
per test, so storage and key never leak between tests. Every request a page makes
is recorded, and a test fails if any of them leaves the server (the console must
work on closed networks).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, Request, expect, sync_playwright

from tests.live_server import ADMIN_KEY, AUTH

CHROMIUM = shutil.which("chromium")
# Assertions wait up to this long (Playwright's default is 5 s): an answer on a busy 2-core machine takes longer.
expect.set_options(timeout=30_000)
# Chromium looks Google hosts up at start even with background networking off: resolve nothing but loopback.
CHROMIUM_ARGS = [
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1 , EXCLUDE localhost",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "console"
KEY_STORAGE = "openmaas.apiKey"


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    if CHROMIUM is None:
        if os.environ.get("OPENMAAS_TEST_REQUIRE_BROWSER"):
            pytest.fail("chromium is not on PATH, and OPENMAAS_TEST_REQUIRE_BROWSER is set")
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@dataclass
class Console:
    """A browser context on the live server, with the URLs of every request its pages made."""

    base_url: str
    context: BrowserContext
    requests: list[str] = field(default_factory=list)

    def page(self) -> Page:
        page = self.context.new_page()
        page.set_default_timeout(30_000)
        return page

    def open(self, path: str) -> Page:
        page = self.page()
        page.goto(self.base_url + path)
        return page

    def outside_requests(self) -> list[str]:
        """URLs that are neither this server nor in-page data (data:, blob:)."""
        local = (self.base_url + "/", "data:", "blob:")
        return [url for url in self.requests if not url.startswith(local) and url != self.base_url]


ConsoleFactory = Callable[..., Console]


@pytest.fixture()
def console_factory(browser: Browser, server_url: str) -> Iterator[ConsoleFactory]:
    """Makes browser contexts ("devices"): make(key=ADMIN_KEY, viewport=DESKTOP); all closed after the test."""
    made: list[Console] = []

    def make(key: str | None = ADMIN_KEY, viewport: dict[str, int] = DESKTOP) -> Console:
        context = browser.new_context(viewport=viewport, base_url=server_url)  # type: ignore[arg-type]
        if key is not None:
            # As if the user had added the key in an earlier visit.
            context.add_init_script(f"window.localStorage.setItem({KEY_STORAGE!r}, {key!r})")
        console = Console(server_url, context)

        def record(request: Request) -> None:
            console.requests.append(request.url)

        context.on("request", record)
        made.append(console)
        return console

    yield make
    for console in made:
        console.context.close()
    for console in made:
        assert console.outside_requests() == [], "a page requested something outside the server"


@pytest.fixture()
def console(console_factory: ConsoleFactory) -> Console:
    """A desktop-sized context holding the admin key."""
    return console_factory()


@pytest.fixture()
def anonymous_console(console_factory: ConsoleFactory) -> Console:
    """A desktop-sized context with no key yet."""
    return console_factory(key=None)


DEMO_MODEL = "gemma-demo"


@pytest.fixture(scope="module")
def demo_model(server_url: str, model_path: Path) -> Iterator[str]:
    """A second catalog model (the bundled file again) with tags, a price and defaults; cold until used.

    Per module, and removed after it: the API tests share the server and expect its one model.
    """
    body = {
        "id": DEMO_MODEL,
        "source_kind": "local",
        "source": str(model_path),
        "display_name": "Gemma Demo",
        "description": "The bundled model again, as a catalog entry with tags.",
        "tags": ["demo", "chat"],
        "input_price_per_million": 0.1,
        "output_price_per_million": 0.4,
        "defaults": {"temperature": 0.3, "max_tokens": 256},
    }
    created = httpx.post(f"{server_url}/api/admin/models", json=body, headers=AUTH, timeout=60)
    assert created.status_code == 201, created.text
    yield DEMO_MODEL
    httpx.delete(f"{server_url}/api/admin/models/{DEMO_MODEL}", headers=AUTH, timeout=60)
