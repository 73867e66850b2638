"""The bundled model's own default settings: a chat that sets no max_tokens stops at its default
(256) instead of running to the end of the context; a request's own value still wins."""

from __future__ import annotations

from openai import OpenAI

from openmaas.fleet.builtin_model import BUNDLED_DEFAULTS
from tests.api.conftest import MODEL

CHAT = [{"role": "user", "content": "Write a long story."}]


def test_a_chat_without_max_tokens_stops_at_the_bundled_models_default(client: OpenAI) -> None:
    completion = client.chat.completions.create(
        model=MODEL,
        messages=CHAT,
        extra_body={"ignore_eos": True},  # type: ignore[arg-type]
    )
    assert completion.usage is not None
    assert completion.usage.completion_tokens == BUNDLED_DEFAULTS["max_tokens"] == 256
    assert completion.choices[0].finish_reason == "length"


def test_the_requests_own_max_tokens_wins(client: OpenAI) -> None:
    completion = client.chat.completions.create(
        model=MODEL,
        messages=CHAT,
        max_tokens=3,
        extra_body={"ignore_eos": True},  # type: ignore[arg-type]
    )
    assert completion.usage is not None and completion.usage.completion_tokens == 3
