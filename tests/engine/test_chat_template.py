"""select_chat_template: which template is used, what it renders, and what it refuses."""

from __future__ import annotations

from typing import Any

import pytest

from openmaas.engine.chat_template import ChatTemplate, select_chat_template
from openmaas.errors import InvalidRequest

BOS, EOS = "<bos>", "<eos>"

CONVERSATION = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Hello!"},
    {"role": "user", "content": "How are you?"},
]


def select(gguf_template: str | None, architecture: str) -> ChatTemplate:
    return select_chat_template(gguf_template, architecture, bos_token=BOS, eos_token=EOS)


def test_gguf_template_wins() -> None:
    source = "{{ bos_token }}{% for m in messages %}[{{ m['role'] }}:{{ m['content'] }}]{% endfor %}{{ eos_token }}"
    template = select(source, "gemma3")
    assert template.origin == "gguf"
    assert template.render([{"role": "user", "content": "hi"}]) == "<bos>[user:hi]<eos>"


def test_gguf_template_sees_add_generation_prompt() -> None:
    template = select("{% if add_generation_prompt %}GEN{% else %}NOGEN{% endif %}", "llama")
    assert template.render([], add_generation_prompt=True) == "GEN"
    assert template.render([], add_generation_prompt=False) == "NOGEN"


@pytest.mark.parametrize("empty", [None, ""])
def test_no_gguf_template_falls_back_to_the_family_one(empty: str | None) -> None:
    assert select(empty, "gemma3").origin == "builtin:gemma3"


def test_gemma3_turn_format() -> None:
    template = select(None, "gemma3")
    assert template.origin == "builtin:gemma3"
    assert template.render(CONVERSATION, add_generation_prompt=True) == (
        "<bos>"
        "<start_of_turn>user\nYou are terse.\n\nHi<end_of_turn>\n"
        "<start_of_turn>model\nHello!<end_of_turn>\n"
        "<start_of_turn>user\nHow are you?<end_of_turn>\n"
        "<start_of_turn>model\n"
    )


def test_gemma_without_system_or_generation_prompt() -> None:
    template = select(None, "Gemma3")  # the architecture name is case-insensitive
    messages = [{"role": "user", "content": "  padded  "}]
    assert template.render(messages, add_generation_prompt=False) == ("<bos><start_of_turn>user\npadded<end_of_turn>\n")


@pytest.mark.parametrize("architecture", ["gemma", "gemma2", "gemma3n"])
def test_other_gemma_families_use_the_gemma_format(architecture: str) -> None:
    rendered = select(None, architecture).render([{"role": "user", "content": "x"}])
    assert rendered == "<bos><start_of_turn>user\nx<end_of_turn>\n<start_of_turn>model\n"


@pytest.mark.parametrize("architecture", ["llama", "some-new-arch", "qwen3"])
def test_unknown_architectures_and_qwen_get_chatml(architecture: str) -> None:
    template = select(None, architecture)
    assert template.render(CONVERSATION) == (
        "<|im_start|>system\nYou are terse.<|im_end|>\n"
        "<|im_start|>user\nHi<|im_end|>\n"
        "<|im_start|>assistant\nHello!<|im_end|>\n"
        "<|im_start|>user\nHow are you?<|im_end|>\n"
        "<|im_start|>assistant\n"
    )


def test_unknown_architecture_origin_is_chatml() -> None:
    assert select(None, "some-new-arch").origin == "builtin:chatml"


@pytest.mark.parametrize(
    "messages",
    [
        [{"role": "assistant", "content": "a"}],
        [{"role": "system", "content": "s"}, {"role": "assistant", "content": "a"}],
    ],
)
def test_non_alternating_roles_are_rejected(messages: list[dict[str, Any]]) -> None:
    with pytest.raises(InvalidRequest) as info:
        select(None, "gemma3").render(messages)
    assert info.value.param == "messages"
    assert "alternate" in info.value.message


def test_consecutive_turns_of_one_role_are_merged_for_templates_that_need_alternation() -> None:
    messages = [
        {"role": "user", "content": "a"},
        {"role": "user", "content": "b"},
        {"role": "assistant", "content": "c"},
        {"role": "assistant", "content": "d"},
        {"role": "user", "content": "e"},
    ]
    assert select(None, "gemma3").render(messages) == (
        "<bos><start_of_turn>user\na\n\nb<end_of_turn>\n"
        "<start_of_turn>model\nc\n\nd<end_of_turn>\n"
        "<start_of_turn>user\ne<end_of_turn>\n<start_of_turn>model\n"
    )


def test_templates_that_allow_any_order_get_the_messages_as_sent() -> None:
    rendered = select(None, "qwen2").render([{"role": "user", "content": "a"}, {"role": "user", "content": "b"}])
    assert rendered.count("<|im_start|>user") == 2


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ raise_exception.__globals__ }}",
        "{{ messages.append({'role': 'user', 'content': 'injected'}) }}",
        "{{ messages[0].update({'role': 'system'}) }}",
    ],
)
def test_unsafe_templates_raise_instead_of_executing(source: str) -> None:
    messages = [{"role": "user", "content": "hi"}]
    template = select(source, "gemma3")
    with pytest.raises(InvalidRequest) as info:
        template.render(messages)
    assert info.value.param == "messages"
    assert messages == [{"role": "user", "content": "hi"}]


def test_undefined_variables_are_errors() -> None:
    with pytest.raises(InvalidRequest) as info:
        select("{{ no_such_variable }}", "gemma3").render([])
    assert info.value.param == "messages"


def test_raise_exception_from_a_gguf_template() -> None:
    with pytest.raises(InvalidRequest) as info:
        select("{{ raise_exception('tools are not supported') }}", "llama").render([])
    assert info.value.param == "messages"
    assert info.value.message == "chat template: tools are not supported"


def test_strftime_now_is_available() -> None:
    rendered = select("{{ strftime_now('%Y') }}", "llama").render([])
    assert rendered.isdigit() and len(rendered) == 4
