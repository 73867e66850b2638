"""Every page at desktop and phone widths: readable without sideways scrolling, and shot for docs/console.md.

The pages are shot on a server of their own with a fresh database, so the shots show
what a user would see, not other tests' keys and chats. They go to a temporary folder;
with OPENMAAS_UPDATE_SCREENSHOTS=1 they replace docs/console/*.png:

    OPENMAAS_UPDATE_SCREENSHOTS=1 python -m pytest -q tests/web/test_screenshots.py
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.live_server import AUTH, MODEL, live_server
from tests.web.conftest import DEMO_MODEL, DESKTOP, PHONE, SCREENSHOTS, ConsoleFactory


@pytest.fixture(scope="module")
def server_url(model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server of this module's own (it overrides the shared one here): an empty database, the bundled file."""
    home = tmp_path_factory.mktemp("screenshots-home")
    with live_server(home, {"OPENMAAS_MODEL": str(model_path), "OPENMAAS_MODEL_ID": MODEL}) as url:
        yield url


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return SCREENSHOTS if os.environ.get("OPENMAAS_UPDATE_SCREENSHOTS") else tmp_path_factory.mktemp("screenshots")


def _catalog(page: Page) -> None:
    expect(page.locator("#catalog-cards > li").first).to_be_visible()


def _model(page: Page) -> None:
    expect(page.locator("#model-facts dd").first).to_be_visible()


def _playground(page: Page) -> None:
    expect(page.get_by_label("Model")).to_have_value(MODEL)
    page.get_by_role("radio", name="Chat").check()
    page.get_by_label("Max tokens").fill("24")
    page.get_by_label("System prompt").fill("You are a helpful assistant.")
    page.get_by_label("Message").fill("Write one sentence about the sea.")
    expect(page.get_by_role("button", name="Send")).to_be_enabled()
    page.get_by_label("Message").press("Enter")
    expect(page.locator("#messages li.assistant").last).to_have_attribute("data-state", "done", timeout=60_000)


def _playground_api(page: Page) -> None:
    _playground(page)
    page.get_by_role("tab", name="API").click()
    page.get_by_label("Language").select_option("python")
    expect(page.locator("#api-code")).to_contain_text("from openai import OpenAI")


def _keys(page: Page) -> None:
    # A key with limits, so the shot shows a row as people will see it.
    key = {"name": "ci-pipeline", "max_requests_per_minute": 60, "max_budget_tokens": 1_000_000}
    assert page.request.post("/api/admin/keys", data=key, headers=AUTH).ok
    page.reload()
    expect(page.locator("#keys-content table tbody tr").filter(has_text="ci-pipeline").first).to_be_visible()


def _usage(page: Page) -> None:
    # Calls on two models (the demo one priced), so the charts have stacks and a cost.
    for model in (MODEL, MODEL, DEMO_MODEL):
        body = {"model": model, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4}
        assert page.request.post("/v1/chat/completions", data=body, headers=AUTH).ok
    page.get_by_label("Period").select_option("24h")
    expect(page.locator("#usage-status")).to_contain_text("in the last 24 hours")
    expect(page.locator("#usage-content svg").first).to_have_attribute("data-series-count", re.compile("[1-9]"))


PAGES: dict[str, tuple[str, Callable[[Page], None]]] = {
    "catalog": ("/", _catalog),
    "model": (f"/models/{MODEL}", _model),
    "playground": ("/playground", _playground),
    "playground-api": ("/playground", _playground_api),
    "keys": ("/keys", _keys),
    "usage": ("/usage", _usage),
}


@pytest.mark.parametrize("name", list(PAGES))
@pytest.mark.parametrize("width", ["desktop", "phone"])
def test_page_fits_the_screen_and_is_shot(
    console_factory: ConsoleFactory, demo_model: str, shots: Path, name: str, width: str
) -> None:
    console = console_factory(viewport=DESKTOP if width == "desktop" else PHONE)
    path, settle = PAGES[name]
    page = console.open(path)
    settle(page)
    page.wait_for_load_state("networkidle")
    # Nothing wider than the screen: a phone reader never scrolls sideways (wide tables scroll in their box).
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{name} is {overflow}px wider than a {width} screen"
    shots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=shots / f"{name}-{width}.png", full_page=True, animations="disabled")
    assert (shots / f"{name}-{width}.png").stat().st_size > 10_000
