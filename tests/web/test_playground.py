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
from tests.live_server import ADMIN_KEY, MODEL
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
    # The bundled model is a base model: the playground opens it in Completion mode.
    expect(page.get_by_role("radio", name="Completion")).to_be_checked()
    page.get_by_role("radio", name="Chat").check()
    # Greedy, so no answer depends on chance: a sampled end-of-turn could end one before it
    # streams or before Stop is clicked (greedily, the Stop test's story runs to the context's end).
    page.get_by_label("Temperature").fill("0")
    if max_tokens is not None:
        page.get_by_label("Max tokens").fill(str(max_tokens))
    return page


def send(page: Page, prompt: str) -> None:
    # Send is disabled from a send until its answer is saved: Enter before that would be ignored.
    expect(page.get_by_role("button", name="Send")).to_be_enabled()
    page.get_by_label("Message").fill(prompt)
    page.get_by_label("Message").press("Enter")


def wait_saved(page: Page) -> None:
    """Until the last answer is finished and saved (the playground is no longer busy)."""
    expect(page.locator("#messages li.assistant").last).not_to_have_attribute("data-state", "streaming")
    expect(page.locator("#playground")).to_have_attribute("data-busy", "false")


def conversations_of(server_url: str, key: str) -> list[dict[str, Any]]:
    """The key's conversations with their messages, as the server keeps them."""
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=server_url, headers=headers, timeout=30) as client:
        listed = client.get("/api/console/conversations").json()["data"]
        return [client.get(f"/api/console/conversations/{item['id']}").json() for item in listed]


def usage_row(http: httpx.Client, request_id: str) -> dict[str, Any]:
    """The call's usage row, once the server has written it (it notices a closed connection within a step)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        rows = http.get("/api/admin/usage", params={"limit": 50}).json()["data"]
        for row in rows:
            if row["request_id"] == request_id:
                return dict(row)
        time.sleep(0.1)
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
    stats = answer.locator(".stats")
    expect(stats).to_contain_text("completion tokens")
    # The rate over the whole call; a whole answer has no first-token time of its own.
    expect(stats).to_contain_text("tokens/s")
    expect(stats).not_to_contain_text("first token")
    assert answer.locator(".content").inner_text().strip()


def test_a_failed_answer_does_not_break_the_conversation(console: Console, server_url: str) -> None:
    page = open_playground(console, max_tokens=8)
    send(page, "Name a colour.")
    wait_saved(page)
    # A token id past the vocabulary: only the server knows the vocabulary, so it refuses the call (400)
    # and the answer shows why (values out of range are refused in the form and never sent).
    page.locator("#more-settings summary").click()
    page.get_by_label("Logit bias").fill('{"999999999": 1}')
    send(page, "Name a fruit.")
    failed = page.locator("#messages li.assistant").last
    expect(failed).to_have_attribute("data-state", "error")
    expect(failed.locator(".content")).to_contain_text("logit_bias")
    # The question is greyed, marked failed, and back in the prompt box to send again.
    question = page.locator("#messages li.user").last
    expect(question).to_have_attribute("data-failed", "true")
    expect(question.locator(".stats")).to_contain_text("Not answered")
    expect(page.get_by_label("Message")).to_have_value("Name a fruit.")
    wait_saved(page)
    # Sent again, the turns still alternate (the failed pair is left out): the chat template accepts them.
    page.get_by_label("Logit bias").fill("")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#messages li.assistant")).to_have_count(3)
    expect(page.locator("#messages li.assistant").last).to_have_attribute("data-state", "done")
    wait_saved(page)
    # Reopened, it keeps working: the failed pair is kept, marked, and still not sent.
    page.reload()
    page.get_by_role("button", name="Name a colour.", exact=True).click()
    expect(page.locator("#messages li.user")).to_have_count(3)
    expect(page.locator("#messages li.user").nth(1)).to_have_attribute("data-failed", "true")
    page.get_by_label("Max tokens").fill("8")
    send(page, "Name an animal.")
    expect(page.locator("#messages li.assistant")).to_have_count(4)
    expect(page.locator("#messages li.assistant").last).to_have_attribute("data-state", "done")
    wait_saved(page)
    saved = [item for item in conversations_of(server_url, ADMIN_KEY) if item["title"] == "Name a colour."]
    assert len(saved) == 1
    assert [(message["role"], message["failed"]) for message in saved[0]["messages"]] == [
        ("user", False),
        ("assistant", False),
        ("user", True),
        ("assistant", True),
        ("user", False),
        ("assistant", False),
        ("user", False),
        ("assistant", False),
    ]


def test_a_model_without_defaults_gets_the_forms_own(console: Console, demo_model: str) -> None:
    page = console.open("/playground")
    model = page.get_by_label("Model")
    expect(model).to_have_value(MODEL)
    expect(page.get_by_label("Temperature")).to_have_value("0.7")
    model.select_option(demo_model)
    expect(page.get_by_label("Temperature")).to_have_value("0.3")
    expect(page.get_by_label("Max tokens")).to_have_value("256")
    model.select_option(MODEL)
    expect(page.get_by_label("Temperature")).to_have_value("0.7")
    expect(page.get_by_label("Max tokens")).to_have_value("4096")


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
        time.sleep(0.1)
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
    # Sent at once: send() waits for Send, which stays disabled until the first answer is saved.
    send(page, "Which word?")
    expect(page.locator("#messages li.assistant")).to_have_count(2)
    expect(page.locator("#messages li.assistant").last).to_have_attribute("data-state", "done")
    wait_saved(page)
    entry = page.locator("#conversation-list li").filter(has_text="Remember the word pineapple.")
    expect(entry).to_have_count(1)
    # One conversation on the server (the second save replaced the first, no second POST).
    saved = [item for item in conversations_of(server_url, ADMIN_KEY) if "pineapple" in item["title"]]
    assert [len(item["messages"]) for item in saved] == [4]

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


def test_new_chat_right_after_an_answer_keeps_both_conversations(console: Console, server_url: str) -> None:
    page = open_playground(console, max_tokens=4)
    send(page, "First chat about apples.")
    expect(page.locator("#messages li.assistant").last).to_have_attribute("data-state", "done")
    # At once: the click waits for New chat, disabled until the answer is saved to the first chat.
    page.get_by_role("button", name="New chat").click()
    expect(page.locator("#messages li")).to_have_count(0)
    send(page, "Second chat about pears.")
    expect(page.locator("#messages li.assistant").last).to_have_attribute("data-state", "done")
    wait_saved(page)
    for title in ("First chat about apples.", "Second chat about pears."):
        expect(page.locator("#conversation-list li").filter(has_text=title)).to_have_count(1)
    saved = {
        item["title"]: [message["content"] for message in item["messages"] if message["role"] == "user"]
        for item in conversations_of(server_url, ADMIN_KEY)
        if "chat about" in item["title"]
    }
    assert saved == {
        "First chat about apples.": ["First chat about apples."],
        "Second chat about pears.": ["Second chat about pears."],
    }


def _new_key(http: httpx.Client, name: str) -> str:
    created = http.post("/api/admin/keys", json={"name": name})
    assert created.status_code == 201, created.text
    return str(created.json()["key"])


def _own_conversation(server_url: str, key: str, title: str) -> None:
    body = {"title": title, "model": MODEL, "messages": [{"role": "user", "content": title}]}
    headers = {"Authorization": f"Bearer {key}"}
    created = httpx.post(f"{server_url}/api/console/conversations", json=body, headers=headers, timeout=30)
    assert created.status_code == 201, created.text


def test_another_key_does_not_see_the_conversations(
    console_factory: ConsoleFactory, server_url: str, http: httpx.Client
) -> None:
    mine = open_playground(console_factory(), max_tokens=4)
    send(mine, "A private question.")
    expect(mine.locator("#conversation-list li").filter(has_text="A private question.")).to_have_count(1)
    other_key = _new_key(http, "someone else")
    _own_conversation(server_url, other_key, "Their own question.")
    theirs = open_playground(console_factory(key=other_key), max_tokens=None)
    # The list has loaded (their own conversation is in it), and it holds nothing of the other key's.
    expect(theirs.locator("#conversation-list li").filter(has_text="Their own question.")).to_have_count(1)
    expect(theirs.locator("#conversation-list li").filter(has_text="A private question.")).to_have_count(0)


def test_another_key_in_the_same_browser_gets_a_new_chat(console: Console, server_url: str, http: httpx.Client) -> None:
    page = open_playground(console, max_tokens=4)
    send(page, "The admin's chat.")
    wait_saved(page)
    expect(page.locator("#conversation-list li").filter(has_text="The admin's chat.")).to_have_count(1)
    other_key = _new_key(http, "same browser")
    _own_conversation(server_url, other_key, "The other key's chat.")
    page.get_by_role("button", name="Change key").click()
    dialog = page.get_by_role("dialog", name="Add API Key")
    dialog.get_by_label("API key").fill(other_key)
    dialog.get_by_role("button", name="Save key").click()
    expect(dialog).to_be_hidden()
    # Nothing of the admin's chat stays: not its messages, not its list.
    expect(page.locator("#key-label")).not_to_contain_text("admin")
    expect(page.locator("#conversation-list li").filter(has_text="The other key's chat.")).to_have_count(1)
    expect(page.locator("#conversation-list li").filter(has_text="The admin's chat.")).to_have_count(0)
    expect(page.locator("#messages li")).to_have_count(0)
    # A fresh start for the new key: the base model opens in Completion mode again.
    page.get_by_role("radio", name="Chat").check()
    page.get_by_label("Max tokens").fill("4")
    # A message now starts the other key's conversation, not a PUT over the admin's.
    send(page, "Asked with the other key.")
    expect(page.locator("#messages li.assistant").last).to_have_attribute("data-state", "done")
    wait_saved(page)
    expect(page.locator("#conversation-list li").filter(has_text="Asked with the other key.")).to_have_count(1)
    admins = [item["title"] for item in conversations_of(server_url, ADMIN_KEY)]
    assert "The admin's chat." in admins
    assert "Asked with the other key." not in admins
