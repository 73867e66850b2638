"""The playground's settings: every parameter the form sets reaches the request, and a value the API
would refuse is refused in the form, in the API's words, with no request sent."""

from __future__ import annotations

import json
from typing import Any

import httpx
from playwright.sync_api import Request, expect

from tests.live_server import MODEL
from tests.web.conftest import Console


def _calls(console: Console) -> list[dict[str, Any]]:
    """The bodies of the inference calls the pages of this context send, as they are sent."""
    sent: list[dict[str, Any]] = []

    def record(request: Request) -> None:
        if request.method == "POST" and request.url.endswith(("/v1/completions", "/v1/chat/completions")):
            sent.append(json.loads(request.post_data or "{}"))

    console.context.on("request", record)
    return sent


def test_each_extra_setting_reaches_the_request(console: Console) -> None:
    sent = _calls(console)
    page = console.open("/playground")
    expect(page.get_by_label("Model")).to_have_value(MODEL)
    page.get_by_role("radio", name="Chat").check()
    page.get_by_label("Temperature").fill("0")
    page.get_by_label("Max tokens").fill("24")
    page.locator("#more-settings summary").click()
    page.get_by_label("Seed").fill("7")
    page.get_by_label("Stop sequences").fill("}\nEND")
    page.get_by_label("Min P").fill("0.05")
    page.get_by_label("Repetition penalty").fill("1.1")
    page.get_by_label("Logit bias").fill('{"1234": -100}')
    page.get_by_label("Response format").select_option("json_schema")
    schema = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}
    page.get_by_label("JSON schema").fill(json.dumps(schema))
    page.get_by_label("Message").fill("Name a colour.")
    page.get_by_label("Message").press("Enter")
    expect(page.locator("#messages li.assistant").last).not_to_have_attribute("data-state", "streaming")
    assert len(sent) == 1
    body = sent[0]
    assert body["seed"] == 7
    assert body["stop"] == ["}", "END"]
    assert body["min_p"] == 0.05
    assert body["repetition_penalty"] == 1.1
    assert body["logit_bias"] == {"1234": -100}
    assert body["response_format"] == {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}}
    expect(page.locator("#messages li.assistant").last).to_have_attribute("data-state", "done")


def test_a_value_the_api_refuses_is_refused_in_the_form_with_its_message(console: Console, http: httpx.Client) -> None:
    sent = _calls(console)
    page = console.open("/playground")
    expect(page.get_by_label("Model")).to_have_value(MODEL)
    page.get_by_role("radio", name="Chat").check()
    for label, name, value in (("Temperature", "temperature", 5), ("Top K", "top_k", -1)):
        # What the API itself answers for that value.
        refused = http.post(
            "/v1/chat/completions",
            json={"model": MODEL, "messages": [{"role": "user", "content": "Hi"}], name: value, "max_tokens": 1},
        )
        assert refused.status_code == 400
        message = refused.json()["error"]["message"]
        page.get_by_label(label).fill(str(value))
        page.get_by_label("Message").fill("Hello")
        page.get_by_label("Message").press("Enter")
        expect(page.locator(f"#param-{name.replace('_', '-')}-error")).to_have_text(message)
        expect(page.locator("#chat-status")).to_contain_text(message)
        expect(page.get_by_label(label)).to_have_attribute("aria-invalid", "true")
        page.get_by_label(label).fill("0")
    # More settings are refused the same way.
    page.locator("#more-settings summary").click()
    page.get_by_label("Repetition penalty").fill("0")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#param-repetition-penalty-error")).to_have_text(
        "repetition_penalty must be in (0, 2], got 0.0"
    )
    assert sent == []
    expect(page.locator("#messages li")).to_have_count(0)
    # Max tokens as the request gets it: 4096 asked, clamped to the model's context (512 here) less the prompt.
    effective = page.locator("#max-tokens-effective")
    expect(effective).to_contain_text("the model's context is 512")
    assert 0 < int(effective.get_attribute("data-value") or 0) <= 512
