"""The API keys page: create (the secret shown once), use, list and revoke a key; refused to inference keys."""

from __future__ import annotations

import re
import uuid

import httpx
from playwright.sync_api import Dialog, Locator, Page, expect

from tests.live_server import AUTH, MODEL
from tests.web.conftest import KEY_STORAGE, PHONE, Console, ConsoleFactory


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _row(page: Page, name: str) -> Locator:
    return page.locator("#keys-rows tr", has_text=name)


def _accept(dialog: Dialog) -> None:
    assert dialog.type == "confirm"
    dialog.accept()


def test_create_use_and_revoke_a_key(console: Console, server_url: str) -> None:
    page = console.open("/keys")
    name = _name("browser")
    form = page.locator("#create-key-form")
    form.get_by_label("Name", exact=True).fill(name)
    form.get_by_label("Requests per minute").fill("60")
    form.get_by_label(MODEL).check()
    form.get_by_role("button", name="Create key").click()

    # The secret, once, with a way to copy it.
    box = page.locator(".secret")
    expect(box).to_be_visible()
    expect(box).to_contain_text("will not be shown again")
    expect(box.get_by_role("button", name="Copy")).to_be_visible()
    secret = box.locator("code").inner_text()
    assert secret.startswith("om-")
    assert secret not in page.evaluate("JSON.stringify(Object.entries(localStorage))")
    # The form is empty again for the next key.
    expect(form.get_by_label("Name", exact=True)).to_have_value("")

    with httpx.Client(base_url=server_url, headers={"Authorization": f"Bearer {secret}"}, timeout=30) as client:
        answer = client.get("/v1/models")
        assert answer.status_code == 200, answer.text
        assert MODEL in [model["id"] for model in answer.json()["data"]]

        # Listed by its prefix and limits, never by its secret.
        row = _row(page, name)
        expect(row).to_contain_text(f"{secret[:11]}…")
        expect(row).to_contain_text("60 rpm")
        expect(row).to_contain_text("inference")
        expect(row).to_contain_text(MODEL)
        expect(row).to_contain_text("active")
        assert secret not in row.inner_text()

        page.get_by_role("button", name="Done").click()
        expect(box).to_be_hidden()
        assert secret not in page.content()

        page.once("dialog", _accept)
        row.get_by_role("button", name="Revoke").click()
        expect(row).to_contain_text("revoked")
        expect(row).to_have_class("key-inactive")
        expect(row.get_by_role("button", name="Revoke")).to_have_count(0)
        expect(page.locator(".keys-list .table-wrap")).to_be_focused()
        assert client.get("/v1/models").status_code == 403

    page.reload()
    expect(_row(page, name)).to_contain_text("revoked")
    assert secret not in page.content()


def test_an_inference_key_is_refused(anonymous_console: Console, server_url: str) -> None:
    created = httpx.post(
        f"{server_url}/api/admin/keys", json={"name": _name("inference"), "is_admin": False}, headers=AUTH, timeout=30
    )
    assert created.status_code == 201, created.text
    page = anonymous_console.open("/keys")
    page.get_by_role("button", name="Add API Key").first.click()
    dialog = page.get_by_role("dialog", name="Add API Key")
    dialog.get_by_label("API key").fill(created.json()["key"])
    dialog.get_by_role("button", name="Save key").click()
    expect(dialog).to_be_hidden()

    expect(page.get_by_text("Managing API keys needs an admin key.")).to_be_visible()
    expect(page.locator("#create-key-form")).to_be_hidden()
    expect(page.locator("#keys-table")).to_be_hidden()
    expect(page.get_by_role("link", name="API keys")).to_be_hidden()


def test_a_server_error_is_shown_in_an_alert(console: Console, server_url: str) -> None:
    page = console.open("/keys")
    rpm = page.get_by_label("Requests per minute")
    expect(rpm).to_be_visible()
    # Past the browser's own check (min="0"), so that the server refuses it.
    rpm.evaluate("input => input.removeAttribute('min')")
    rpm.fill("-5")
    page.get_by_role("button", name="Create key").click()
    alert = page.locator("#create-key-form").get_by_role("alert")
    expect(alert).to_contain_text("max_requests_per_minute")
    expect(page.locator(".secret")).to_be_hidden()

    # Corrected, with every other field: an admin key that ends with the chosen day (UTC).
    name = _name("full")
    form = page.locator("#create-key-form")
    form.get_by_label("Name", exact=True).fill(name)
    rpm.fill("")
    form.get_by_label("Tokens per minute").fill("5000")
    form.get_by_label("Budget tokens").fill("20000")
    form.get_by_label("Budget cost ($)").fill("2.5")
    form.get_by_label("Budget period").select_option("day")
    form.get_by_label("Expires (end of day, UTC)").fill("2099-01-31")
    form.get_by_label("Admin key").check()
    form.get_by_role("button", name="Create key").click()
    expect(page.locator(".secret")).to_be_visible()
    expect(alert).to_be_hidden()
    row = _row(page, name)
    expect(row).to_contain_text("5,000 tpm · 20,000 tokens/day · $2.50/day")
    expect(row).to_contain_text("admin")
    expect(row).to_contain_text("all")
    expires = row.locator("td").nth(5).locator("time")
    expect(expires).to_have_text(re.compile(r"^in \d+ years$"))
    expect(expires).to_have_attribute("title", re.compile("2099"))
    keys = httpx.get(f"{server_url}/api/admin/keys", headers=AUTH, timeout=30).json()["data"]
    key = next(key for key in keys if key["name"] == name)
    assert key["is_admin"] is True
    assert key["max_requests_per_minute"] is None
    assert key["max_budget_cost"] == 2.5
    assert key["budget_period"] == "day"
    assert key["allowed_models"] is None
    assert key["expires_at"].startswith("2099-01-31T23:59:59.999")


def test_limits_and_models_on_a_phone(console_factory: ConsoleFactory, server_url: str) -> None:
    name = _name("phone")
    body = {
        "name": name,
        "allowed_models": [MODEL],
        "max_requests_per_minute": 60,
        "max_tokens_per_minute": 10_000,
        "max_budget_tokens": 1_000_000,
        "budget_period": "month",
    }
    created = httpx.post(f"{server_url}/api/admin/keys", json=body, headers=AUTH, timeout=30)
    assert created.status_code == 201, created.text
    page = console_factory(viewport=PHONE).open("/keys")
    row = _row(page, name)
    expect(row).to_contain_text("60 rpm · 10,000 tpm · 1,000,000 tokens/month")
    expect(row.locator("td").nth(4)).to_have_text("never")  # last used
    expect(row.locator("td").nth(5)).to_have_text("never")  # expires
    expect(row).to_contain_text(MODEL)
    expect(row).to_contain_text("active")
    assert created.json()["key"] not in page.content()
    assert page.evaluate(f"localStorage.getItem({KEY_STORAGE!r})") != created.json()["key"]
    # At 390 px the form fits; only the table scrolls, inside its own box.
    expect(page.get_by_label("Expires (end of day, UTC)")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.get_by_label("Name", exact=True).focus()
    page.keyboard.press("Tab")
    expect(page.get_by_label("Requests per minute")).to_be_focused()
