"""The catalog and a model's detail page: cards, search, tag filter, facts and API examples."""

from __future__ import annotations

import httpx
from playwright.sync_api import expect

from tests.live_server import AUTH, MODEL
from tests.web.conftest import Console


def test_catalog_shows_a_card_per_model_with_search_and_tags(
    console: Console, demo_model: str, http: httpx.Client
) -> None:
    # A call just now: the server's own model is loaded (its keep-alive runs from here).
    chat = {"model": MODEL, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 1}
    assert http.post("/v1/chat/completions", json=chat).status_code == 200
    page = console.open("/")
    cards = page.locator("#catalog-cards > li")
    expect(cards).to_have_count(2)
    server_model = page.locator(f'li[data-model-id="{MODEL}"]')
    # The server's own model: facts from its GGUF header.
    expect(server_model).to_contain_text("Warm")
    expect(server_model).to_contain_text("Q4_K_M")
    expect(server_model).to_contain_text("270M")
    expect(server_model).to_contain_text("512 tokens")  # the served context (the test server's max_model_len)
    demo = page.locator(f'li[data-model-id="{demo_model}"]')
    expect(demo).to_contain_text("Gemma Demo")
    expect(demo).to_contain_text("Cold start")
    expect(demo).to_contain_text("$0.100 / 1M")
    expect(demo.locator(".tag")).to_have_text(["demo", "chat"])

    page.get_by_label("Tag").select_option("demo")
    expect(cards).to_have_count(1)
    expect(cards.first).to_have_attribute("data-model-id", demo_model)
    page.get_by_label("Tag").select_option("")
    page.get_by_label("Search models").fill("gemma-3")
    expect(cards).to_have_count(1)
    expect(cards.first).to_have_attribute("data-model-id", MODEL)
    page.get_by_label("Search models").fill("no such model")
    expect(cards).to_have_count(0)
    expect(page.locator("#catalog-status")).to_have_text("0 of 2 models")


def test_catalog_lists_only_the_models_a_key_may_use(
    anonymous_console: Console, server_url: str, demo_model: str
) -> None:
    created = httpx.post(
        f"{server_url}/api/admin/keys", json={"name": "one model", "allowed_models": [MODEL]}, headers=AUTH
    )
    assert created.status_code == 201, created.text
    page = anonymous_console.open("/")
    page.evaluate("key => localStorage.setItem('openmaas.apiKey', key)", created.json()["key"])
    page.reload()
    expect(page.locator("#catalog-cards > li")).to_have_count(1)
    expect(page.locator("#catalog-cards > li").first).to_have_attribute("data-model-id", MODEL)
    # Admin pages are not offered to an inference key.
    expect(page.get_by_role("link", name="API keys")).to_be_hidden()


def test_model_detail_shows_facts_and_examples_for_this_server(console: Console, server_url: str) -> None:
    console.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page = console.open("/")
    page.locator(f'li[data-model-id="{MODEL}"]').get_by_role("link", name="Details & API").click()
    expect(page).to_have_url(f"{server_url}/models/{MODEL}")
    facts = page.locator("#model-facts")
    expect(facts).to_contain_text("gemma3")
    expect(facts).to_contain_text("32,768 tokens")  # trained context, from the GGUF header
    expect(facts.locator("dt:text-is('License') + dd")).to_have_text("gemma")
    code = page.locator("#example-code")
    expect(code).to_contain_text(f"curl '{server_url}/v1/chat/completions'")
    expect(code).to_contain_text(f'"model": "{MODEL}"')
    page.get_by_role("tab", name="Python").click()
    expect(code).to_contain_text(f'base_url="{server_url}/v1"')
    page.get_by_role("tab", name="Python").press("ArrowRight")  # keyboard: the next tab
    expect(page.get_by_role("tab", name="Node.js")).to_have_attribute("aria-selected", "true")
    expect(code).to_contain_text(f'baseURL: "{server_url}/v1"')
    page.get_by_label("Endpoint").select_option("portal")
    expect(code).to_contain_text(f'baseURL: "{server_url}/api/v1/ai"')
    page.get_by_role("tab", name="cURL").click()
    expect(code).to_contain_text('"maxTokens": 128')  # the portal's camelCase
    page.get_by_role("button", name="Copy").click()
    expect(page.get_by_role("button", name="Copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == code.inner_text()
    page.get_by_role("link", name="Try in playground").click()
    expect(page).to_have_url(f"{server_url}/playground?model={MODEL}")
    expect(page.get_by_label("Model")).to_have_value(MODEL)


def test_an_unknown_model_says_so(console: Console) -> None:
    page = console.open("/models/no/such-model")
    expect(page.locator("#model-status")).to_contain_text("No model 'no/such-model' is available")
