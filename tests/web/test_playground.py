"""The playground in a real browser: streamed answers, stop, the API tab's code run as shown, conversations."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.api.conftest import engine_stats
from tests.examples_runner import run_example
from tests.live_server import MODEL
from tests.web.conftest import Console, ConsoleFactory

# Records every state the answer passes through, so a test can tell it arrived in pieces.
WATCH_ANSWER = """() => {
  window.answerStates = [];
  new MutationObserver(() => {
    const answer = document.querySelector('#messages li.assistant:last-child');
    if (answer) window.answerStates.push(answer.querySelector('.content').textContent.length);
  }).observe(document.getElementById('messages'), {subtree: true, childList: true, characterData: true});
}"""


def open_playground(console: Console, max_tokens: int | None = 16) -> Page:
    page = console.open("/playground")
    expect(page.get_by_label("Model")).to_have_value(MODEL)
    if max_tokens is not None:
        page.get_by_label("Max tokens").fill(str(max_tokens))
    return page


def send(page: Page, prompt: str) -> None:
    page.get_by_label("Message").fill(prompt)
    page.get_by_label("Message").press("Enter")


def usage_row(http: httpx.Client, request_id: str) -> dict[str, Any]:
    """The call's usage row, once the server has written it (it notices a closed connection within a step)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        rows = http.get("/api/admin/usage", params={"limit": 50}).json()["data"]
        for row in rows:
            if row["request_id"] == request_id:
                return dict(row)
    raise AssertionError(f"no usage row for {request_id}")


def test_an_answer_streams_in_pieces_and_finishes_with_its_stats(console: Console) -> None:
    page = open_playground(console, max_tokens=24)
    page.evaluate(WATCH_ANSWER)
    send(page, "Write a haiku about the sea.")
    answer = page.locator("#messages li.assistant").last
    expect(answer).to_have_attribute("data-state", "done")
    lengths = [length for length in page.evaluate("window.answerStates") if length]
    # The text grew through several partial states before the end (one per chunk the server sent).
    assert len(set(lengths)) >= 3, lengths
    assert lengths == sorted(lengths)
    stats = answer.locator(".stats")
    expect(stats).to_contain_text("completion tokens")
    expect(stats).to_contain_text("tokens/s")
    expect(stats).to_contain_text("first token")
    expect(page.locator("#messages li.user").last).to_have_text(re.compile("haiku about the sea"))


def test_a_whole_answer_without_streaming(console: Console) -> None:
    page = open_playground(console, max_tokens=8)
    page.get_by_label("Stream").uncheck()
    send(page, "Say hello.")
    answer = page.locator("#messages li.assistant").last
    expect(answer).to_have_attribute("data-state", "done")
    expect(answer.locator(".stats")).to_contain_text("completion tokens")
    assert answer.locator(".content").inner_text().strip()


def test_stop_cancels_the_generation_on_the_server(console: Console, http: httpx.Client) -> None:
    # The default max tokens (4096) is more than the context (512 here): the server reduces it, no error.
    page = open_playground(console, max_tokens=None)
    expect(page.get_by_label("Max tokens")).to_have_value("4096")
    send(page, "Tell me a very long story about a dragon and a knight, in many chapters.")
    answer = page.locator("#messages li.assistant").last
    expect(answer).to_have_attribute("data-chunks", re.compile(r"^[1-9]"))
    page.get_by_role("button", name="Stop").click()
    expect(answer).to_have_attribute("data-state", "stopped")
    expect(page.get_by_role("button", name="Stop")).to_be_hidden()
    request_id = answer.get_attribute("data-request-id")
    received = int(answer.get_attribute("data-chunks") or 0)
    assert request_id
    row = usage_row(http, request_id)
    # Recorded as cancelled with the tokens it produced: at least what the page showed, far fewer than allowed.
    assert row["status"] == "cancelled"
    assert received <= row["num_completion_tokens"] < 400
    # The engine let go of it: nothing runs and every slot is free or cached again.
    deadline = time.monotonic() + 10
    while (stats := engine_stats(http))["num_running"] and time.monotonic() < deadline:
        pass
    assert stats["num_running"] == 0
    assert stats["num_free_slots"] + stats["num_cached_slots"] == stats["num_total_slots"]


def _check_output(language: str, stream: bool, stdout: str) -> None:
    if language != "curl":
        assert stdout.strip()
    elif stream:
        events = [line[5:].strip() for line in stdout.splitlines() if line.startswith("data:")]
        assert events[-1] == "[DONE]"
        assert json.loads(events[0])["object"] == "chat.completion.chunk"
    else:
        assert json.loads(stdout)["object"] == "chat.completion"


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "whole"])
def test_the_api_tab_shows_the_request_and_it_runs_as_shown(
    console: Console, server_url: str, tmp_path: Path, stream: bool
) -> None:
    page = open_playground(console, max_tokens=8)
    page.get_by_label("System prompt").fill("You answer in one short sentence.")
    page.get_by_label("Temperature").fill("0")
    page.get_by_label("Stream").set_checked(stream)
    page.get_by_label("Message").fill("What's the capital of France?")
    page.get_by_role("tab", name="API").click()
    code = page.locator("#api-code")
    expect(page.locator("#api-endpoint")).to_have_text(f"POST {server_url}/v1/chat/completions")
    for language, kind, expected in (
        ("curl", "curl", '"max_tokens": 8'),
        ("python", "python", "max_tokens=8"),
        ("node", "javascript", "max_tokens: 8"),
    ):
        page.get_by_label("Language").select_option(language)
        expect(code).to_contain_text(expected)
        expect(code).to_contain_text("You answer in one short sentence.")
        expect(code).to_contain_text("the capital of France?")
        shown = code.inner_text()
        done = run_example(kind, shown, tmp_path)
        assert done.returncode == 0, f"{language}:\n{shown}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        _check_output(language, stream, done.stdout)
    # The portal endpoint, in its camelCase and envelope.
    page.get_by_label("Endpoint").select_option("portal")
    page.get_by_label("Language").select_option("curl")
    expect(code).to_contain_text('"maxTokens": 8')
    done = run_example("curl", code.inner_text(), tmp_path)
    assert done.returncode == 0, done.stderr
    if not stream:
        assert json.loads(done.stdout)["code"] == 200


def test_conversations_follow_the_key_to_another_device(console_factory: ConsoleFactory, server_url: str) -> None:
    laptop = console_factory()
    page = open_playground(laptop, max_tokens=8)
    send(page, "Remember the word pineapple.")
    expect(page.locator("#messages li.assistant").last).to_have_attribute("data-state", "done")
    first_answer = page.locator("#messages li.assistant .content").last.inner_text()
    send(page, "Which word?")
    expect(page.locator("#messages li.assistant")).to_have_count(2)
    expect(page.locator("#messages li.assistant").last).to_have_attribute("data-state", "done")
    entry = page.locator("#conversation-list li").filter(has_text="Remember the word pineapple.")
    expect(entry).to_have_count(1)

    phone = console_factory()
    other = open_playground(phone, max_tokens=None)
    other.get_by_role("button", name="Remember the word pineapple.", exact=True).click()
    expect(other.locator("#messages li.user .content")).to_have_text(["Remember the word pineapple.", "Which word?"])
    expect(other.locator("#messages li.assistant .content").first).to_have_text(first_answer)
    # Its settings came along too.
    expect(other.get_by_label("Max tokens")).to_have_value("8")
    # Deleted on one device, gone on the other.
    other.get_by_role("button", name="Delete conversation Remember the word pineapple.").click()
    expect(other.locator("#conversation-list li").filter(has_text="pineapple")).to_have_count(0)
    page.reload()
    expect(page.locator("#conversation-list li").filter(has_text="pineapple")).to_have_count(0)


def test_another_key_does_not_see_the_conversations(
    console_factory: ConsoleFactory, server_url: str, http: httpx.Client
) -> None:
    mine = open_playground(console_factory(), max_tokens=4)
    send(mine, "A private question.")
    expect(mine.locator("#conversation-list li").filter(has_text="A private question.")).to_have_count(1)
    other_key = http.post("/api/admin/keys", json={"name": "someone else"}).json()["key"]
    theirs = open_playground(console_factory(key=other_key), max_tokens=None)
    expect(theirs.locator("#conversation-list")).to_be_attached()
    theirs.wait_for_load_state("networkidle")
    expect(theirs.locator("#conversation-list li").filter(has_text="A private question.")).to_have_count(0)
