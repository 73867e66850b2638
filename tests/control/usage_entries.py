"""A usage entry with plausible values, for tests that write usage rows."""

from __future__ import annotations

from datetime import UTC, datetime

from openmaas.control.usage import UsageEntry


def usage_entry(request_id: str, model: str = "m", key_id: str | None = "key_a", **fields: object) -> UsageEntry:
    values: dict[str, object] = {
        "request_id": request_id,
        "created_at": datetime(2025, 3, 1, 23, 30, tzinfo=UTC),
        "key_id": key_id,
        "key_prefix": "om-abc",
        "model": model,
        "deployment": None,
        "dialect": "openai",
        "status": "ok",
        "num_prompt_tokens": 10,
        "num_cached_tokens": 4,
        "num_completion_tokens": 5,
        "time_to_first_token": 0.01,
        "duration": 0.1,
        "finish_reason": "stop",
        "cost": 0.5,
        **fields,
    }
    return UsageEntry(**values)  # type: ignore[arg-type]
