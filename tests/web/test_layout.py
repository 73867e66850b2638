"""Every page: the key dialog, the navigation by key kind, and no request leaving the server."""

from __future__ import annotations

from playwright.sync_api import Route, expect

from tests.live_server import ADMIN_KEY
from tests.web.conftest import KEY_STORAGE, Console

PAGES = ["/", "/models/gemma-3-270m", "/playground", "/keys", "/usage"]


def test_add_api_key_unlocks_the_console(anonymous_console: Console) -> None:
    page = anonymous_console.open("/")
    expect(page.locator("#signin-notice")).to_be_visible()
    page.get_by_role("button", name="Add API Key").first.click()
    dialog = page.get_by_role("dialog", name="Add API Key")
    dialog.get_by_label("API key").fill("om-not-a-key")
    dialog.get_by_role("button", name="Save key").click()
    expect(dialog.get_by_role("alert")).to_contain_text("refused")
    dialog.get_by_label("API key").fill(ADMIN_KEY)
    dialog.get_by_role("button", name="Save key").click()
    expect(dialog).to_be_hidden()
    expect(page.locator("#signin-notice")).to_be_hidden()
    expect(page.locator("#key-label")).to_contain_text("admin")
    expect(page.get_by_role("link", name="API keys")).to_be_visible()
    # Kept in the browser: the next page load is signed in.
    page.goto(anonymous_console.base_url + "/usage")
    expect(page.locator("#signin-notice")).to_be_hidden()


def test_no_page_requests_anything_outside_the_server(console: Console) -> None:
    for path in PAGES:
        page = console.open(path)
        page.wait_for_load_state("networkidle")
        page.close()
    # The pages loaded their own scripts and styles and called this server's API.
    assert any(url.endswith("/static/console.css") for url in console.requests)
    assert any("/api/console/me" in url for url in console.requests)
    assert console.outside_requests() == []


def test_a_key_is_stored_only_once_the_server_accepts_it(console: Console) -> None:
    page = console.open("/")
    expect(page.locator("#key-label")).to_contain_text("admin")
    seen: list[tuple[str | None, bool]] = []

    def observe(route: Route) -> None:
        # While the candidate is checked: the stored key is still the old one and Save waits.
        stored = page.evaluate(f"localStorage.getItem({KEY_STORAGE!r})")
        seen.append((stored, page.locator("#key-save").is_disabled()))
        route.continue_()

    page.route("**/api/console/me", observe)
    page.get_by_role("button", name="Change key").click()
    dialog = page.get_by_role("dialog", name="Add API Key")
    dialog.get_by_label("API key").fill("om-not-a-key")
    dialog.get_by_role("button", name="Save key").click()
    expect(dialog.get_by_role("alert")).to_contain_text("refused")
    assert seen == [(ADMIN_KEY, True)]
    # Refused: the old key is kept and still works.
    expect(dialog.get_by_role("button", name="Save key")).to_be_enabled()
    assert page.evaluate(f"localStorage.getItem({KEY_STORAGE!r})") == ADMIN_KEY
    dialog.get_by_role("button", name="Cancel").click()
    expect(page.locator("#key-label")).to_contain_text("admin")
    expect(page.locator("#signin-notice")).to_be_hidden()


def test_an_unreachable_server_says_so_and_retries(console: Console) -> None:
    page = console.page()
    page.route("**/api/console/me", lambda route: route.abort())
    page.goto(console.base_url + "/")
    # Not a blank page: the header and the notice say what happened, with a way to try again.
    expect(page.locator("#key-label")).to_have_text("Server unreachable")
    expect(page.locator("#signin-notice")).to_be_visible()
    expect(page.locator("#unreachable-message")).to_contain_text("Could not reach the server")
    expect(page.locator("#signin-add")).to_be_hidden()
    page.unroute("**/api/console/me")
    page.get_by_role("button", name="Retry").click()
    expect(page.locator("#key-label")).to_contain_text("admin")
    expect(page.locator("#signin-notice")).to_be_hidden()
    expect(page.locator("#catalog-cards > li").first).to_be_visible()
