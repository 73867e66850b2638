"""The playground's Completion mode on the bundled base model: the continuation streams in place after
the prompt, and the API tab's /v1/completions code, run as shown, returns the same text for the same seed."""

from __future__ import annotations

import json
from pathlib import Path

from playwright.sync_api import expect

from tests.examples_runner import run_example
from tests.live_server import MODEL
from tests.web.conftest import Console

# Records every length the continuation passes through, so a test can tell it arrived in pieces.
WATCH_CONTINUATION = """() => {
  window.continuationStates = [];
  new MutationObserver(() => {
    const generated = document.querySelector('#completion-document .generated');
    if (generated) window.continuationStates.push(generated.textContent.length);
  }).observe(document.getElementById('completion-document'), {subtree: true, childList: true, characterData: true});
}"""
PROMPT = "The old lighthouse keeper opened the door and"


def _streamed_text(stdout: str) -> str:
    events = [line[5:].strip() for line in stdout.splitlines() if line.startswith("data:")]
    assert events[-1] == "[DONE]"
    return "".join(json.loads(event)["choices"][0]["text"] for event in events[:-1] if json.loads(event)["choices"])


def test_completion_mode_streams_in_place_and_its_code_gives_the_same_text(
    console: Console, server_url: str, tmp_path: Path
) -> None:
    page = console.open("/playground")
    expect(page.get_by_label("Model")).to_have_value(MODEL)
    # A base model (its GGUF has no chat template): the playground opens in Completion mode and says why.
    expect(page.get_by_role("radio", name="Completion")).to_be_checked()
    expect(page.locator("#model-kind")).to_contain_text("base model")
    page.get_by_label("Max tokens").fill("12")
    # Sampled, not greedy: the seed is what makes the two runs give the same text.
    page.get_by_label("Temperature").fill("0.9")
    page.locator("#more-settings summary").click()
    page.get_by_label("Seed").fill("4242")
    box = page.get_by_role("textbox", name="Prompt")
    box.fill(PROMPT)

    page.get_by_role("tab", name="API").click()
    expect(page.locator("#api-endpoint")).to_have_text(f"POST {server_url}/v1/completions")
    code = page.locator("#api-code")
    outputs = {}
    for language, kind, expected in (
        ("curl", "curl", '"seed": 4242'),
        ("python", "python", "seed=4242"),
        ("node", "javascript", "seed: 4242"),
    ):
        page.get_by_label("Language").select_option(language)
        expect(code).to_contain_text(expected)
        expect(code).to_contain_text(PROMPT)
        shown = code.inner_text()
        done = run_example(kind, shown, tmp_path)
        assert done.returncode == 0, f"{language}:\n{shown}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        outputs[language] = done.stdout

    page.get_by_role("tab", name="Chat").click()
    page.evaluate(WATCH_CONTINUATION)
    page.get_by_role("button", name="Generate").click()
    expect(box).to_have_attribute("data-state", "done")
    generated = page.locator("#completion-document .generated").text_content() or ""
    assert generated.strip()
    # In place: the box holds the prompt, then the continuation.
    assert box.text_content() == PROMPT + generated
    lengths = [length for length in page.evaluate("window.continuationStates") if length]
    assert len(set(lengths)) >= 3, lengths
    expect(page.locator("#completion-stats")).to_contain_text("completion tokens")
    # The code, run as shown, gave the same text with the same seed.
    assert _streamed_text(outputs["curl"]) == generated
    assert outputs["python"] == generated + "\n"
    assert outputs["node"] == generated + "\n"
