"""OpenAI's two logprobs shapes: chat's `content` list and completions' parallel arrays."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from openmaas.engine import TokenLogprob

TokenBytes = Callable[[int], bytes]


def _token_entry(token_id: int, logprob: float, token_bytes: TokenBytes) -> dict[str, Any]:
    raw = token_bytes(token_id)
    return {"token": raw.decode("utf-8", errors="replace"), "logprob": logprob, "bytes": list(raw)}


def chat_logprobs(entries: tuple[TokenLogprob, ...], token_bytes: TokenBytes) -> dict[str, Any]:
    """choices[].logprobs of a chat completion (or of one chunk)."""
    content = []
    for entry in entries:
        item = _token_entry(entry.token_id, entry.logprob, token_bytes)
        item["top_logprobs"] = [_token_entry(t, lp, token_bytes) for t, lp in entry.top]
        content.append(item)
    return {"content": content, "refusal": None}


def completion_logprobs(entries: tuple[TokenLogprob, ...], token_bytes: TokenBytes, text_offset: int) -> dict[str, Any]:
    """choices[].logprobs of a text completion (or of one chunk), offsets counted from text_offset."""
    tokens, token_logprobs, tops, offsets = [], [], [], []
    for entry in entries:
        text = token_bytes(entry.token_id).decode("utf-8", errors="replace")
        tokens.append(text)
        token_logprobs.append(entry.logprob)
        tops.append({token_bytes(t).decode("utf-8", errors="replace"): lp for t, lp in entry.top})
        offsets.append(text_offset)
        text_offset += len(text)
    return {"tokens": tokens, "token_logprobs": token_logprobs, "top_logprobs": tops, "text_offset": offsets}
