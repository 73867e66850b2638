"""The playground on a phone: the conversation and its input come first, visible without scrolling."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.live_server import MODEL
from tests.web.conftest import PHONE, ConsoleFactory


def test_the_input_is_visible_without_scrolling_on_a_phone(console_factory: ConsoleFactory) -> None:
    page = console_factory(viewport=PHONE).open("/playground")
    expect(page.get_by_label("Model")).to_have_value(MODEL)
    for mode, name in (("Completion", "Prompt"), ("Chat", "Message")):
        page.get_by_role("radio", name=mode).check()
        page.evaluate("window.scrollTo(0, 0)")
        box = page.get_by_role("textbox", name=name, exact=True).bounding_box()
        assert box is not None
        # Its top line at least, and the send button, within the first screen.
        assert box["y"] + 24 <= PHONE["height"], (mode, box)
        send = page.get_by_role("button", name="Generate" if mode == "Completion" else "Send").bounding_box()
        assert send is not None and send["y"] + send["height"] <= PHONE["height"], (mode, send)
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
