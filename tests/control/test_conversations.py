"""Conversations per API key on SQLite and PostgreSQL: the lifecycle, isolation between keys, the limits."""

from __future__ import annotations

from typing import Any

import pytest

from openmaas.control import conversations
from openmaas.control.conversations import MAX_MESSAGES, MAX_MESSAGES_BYTES, Conversation
from openmaas.control.plane import ControlPlane
from openmaas.errors import Conflict, InvalidRequest, NotFound

SETTINGS = {"temperature": 0.7, "system": "Be brief.", "max_tokens": 256}
HELLO = [
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Hello!", "stats": {"tokens_per_second": 41.5, "ttft": 0.12}},
]


def create(plane: ControlPlane, key_id: str | None, title: str = "Greeting", **changes: Any) -> Conversation:
    values: dict[str, Any] = {"model": "m", "settings": SETTINGS, "messages": HELLO, **changes}
    return plane.conversations.create(key_id, title, values["model"], values["settings"], values["messages"])


def test_create_get_list_replace_delete(plane: ControlPlane) -> None:
    first = create(plane, "key_a", title="  First  ")
    assert first.id.startswith("conv_") and len(first.id) <= 32
    assert (first.key_id, first.title, first.model) == ("key_a", "First", "m")
    assert first.settings == SETTINGS and first.messages == HELLO  # stored as given, stats included
    assert first.created_at == first.updated_at and first.created_at.tzinfo is not None
    assert plane.conversations.get("key_a", first.id) == first

    second = create(plane, "key_a", title="Second")
    assert [c.id for c in plane.conversations.list("key_a")] == [second.id, first.id]
    assert [c.id for c in plane.conversations.list("key_a", limit=1)] == [second.id]

    longer = [*HELLO, {"role": "user", "content": "And?"}]
    replaced = plane.conversations.replace(
        "key_a", first.id, title="Renamed", model="n", settings={"temperature": 0}, messages=longer
    )
    assert (replaced.id, replaced.title, replaced.model) == (first.id, "Renamed", "n")
    assert replaced.settings == {"temperature": 0} and replaced.messages == longer
    assert replaced.created_at == first.created_at and replaced.updated_at > first.updated_at
    assert plane.conversations.get("key_a", first.id) == replaced
    # The latest updated first: the replaced one moves to the top.
    assert [c.id for c in plane.conversations.list("key_a")] == [first.id, second.id]

    plane.conversations.delete("key_a", first.id)
    with pytest.raises(NotFound):
        plane.conversations.get("key_a", first.id)
    with pytest.raises(NotFound):
        plane.conversations.delete("key_a", first.id)
    with pytest.raises(NotFound):
        plane.conversations.replace("key_a", first.id, title="x", model="m", settings={}, messages=[])
    assert [c.id for c in plane.conversations.list("key_a")] == [second.id]


def test_a_key_never_sees_or_touches_another_keys_conversations(plane: ControlPlane) -> None:
    mine = create(plane, "key_a", title="A's")
    theirs = create(plane, "key_b", title="B's")
    assert [c.id for c in plane.conversations.list("key_a")] == [mine.id]
    assert [c.id for c in plane.conversations.list("key_b")] == [theirs.id]
    assert plane.conversations.list("key_c") == []
    # Another key's conversation answers exactly as a missing one does.
    with pytest.raises(NotFound) as missing:
        plane.conversations.get("key_b", "conv_missing")
    with pytest.raises(NotFound) as foreign:
        plane.conversations.get("key_b", mine.id)
    assert foreign.value.code == missing.value.code == "not_found"
    assert "key_a" not in foreign.value.message
    with pytest.raises(NotFound):
        plane.conversations.replace("key_b", mine.id, title="mine now", model="m", settings={}, messages=[])
    with pytest.raises(NotFound):
        plane.conversations.delete("key_b", mine.id)
    assert plane.conversations.get("key_a", mine.id) == mine  # untouched


def test_with_no_key_only_keyless_conversations_are_seen(plane: ControlPlane) -> None:
    keyless = create(plane, None, title="auth off")
    keyed = create(plane, "key_a")
    assert [c.id for c in plane.conversations.list(None)] == [keyless.id]
    assert plane.conversations.get(None, keyless.id).key_id is None
    with pytest.raises(NotFound):
        plane.conversations.get(None, keyed.id)
    with pytest.raises(NotFound):
        plane.conversations.get("key_a", keyless.id)
    with pytest.raises(NotFound):
        plane.conversations.delete("key_a", keyless.id)
    plane.conversations.delete(None, keyless.id)
    assert plane.conversations.list(None) == []


def test_the_limits(plane: ControlPlane) -> None:
    assert create(plane, "key_a", title="t" * 500).title == "t" * 200
    assert len(create(plane, "key_a", messages=[{"role": "user", "content": "x"}] * MAX_MESSAGES).messages) == 1000
    too_many = [{"role": "user", "content": "x"}] * (MAX_MESSAGES + 1)
    too_large = [{"role": "user", "content": "x" * MAX_MESSAGES_BYTES}]
    for messages in (too_many, too_large, [{"role": "user", "content": float("nan")}], ["not an object"]):
        with pytest.raises(InvalidRequest) as refused:
            create(plane, "key_a", messages=messages)
        assert refused.value.param == "messages"
    with pytest.raises(InvalidRequest) as refused:
        create(plane, "key_a", model="m" * 201)
    assert refused.value.param == "model"
    stored = create(plane, "key_a")
    with pytest.raises(InvalidRequest) as refused:
        plane.conversations.replace("key_a", stored.id, title="", model="m", settings={}, messages=too_many)
    assert refused.value.param == "messages"
    assert plane.conversations.get("key_a", stored.id) == stored  # a refused write changes nothing
    # What was refused was never stored.
    assert len(plane.conversations.list("key_a")) == 3


def test_nul_characters_and_the_per_key_cap(plane: ControlPlane, monkeypatch: pytest.MonkeyPatch) -> None:
    # A pasted NUL in the prompt that became the title is dropped; in a model id it is refused.
    assert create(plane, "key_a", title="a\x00b").title == "ab"
    with pytest.raises(InvalidRequest) as refused:
        create(plane, "key_a", model="m\x00")
    assert refused.value.param == "model"
    monkeypatch.setattr(conversations, "MAX_CONVERSATIONS_PER_KEY", 2)
    create(plane, "key_a")
    with pytest.raises(Conflict):
        create(plane, "key_a")
    # The cap is per key.
    create(plane, "key_b")
