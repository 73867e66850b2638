"""Tool grammars over the bundled model's vocabulary: what they let through and what they refuse."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from openmaas.engine import EngineConfig
from openmaas.engine.runners.llama_cpp import LlamaCppRunner
from openmaas.engine.structured import GrammarConstraint, StructuredOutputs
from openmaas.engine.tools import (
    GENERIC,
    HERMES,
    MISTRAL,
    ToolCall,
    ToolChoice,
    ToolFormat,
    ToolSpec,
    ToolUse,
    tool_grammar_spec,
)
from openmaas.errors import InvalidRequest

WEATHER = ToolSpec(
    "get_weather",
    parameters={
        "type": "object",
        "properties": {"city": {"type": "string"}, "unit": {"enum": ["c", "f"]}},
        "required": ["city", "unit"],
        "additionalProperties": False,
    },
)
TIME = ToolSpec("get_time", parameters={"type": "object", "properties": {"zone": {"type": "string"}}})


@pytest.fixture(scope="module")
def runner(model_path: Path) -> Iterator[LlamaCppRunner]:
    runner = LlamaCppRunner(
        EngineConfig(model_path=str(model_path), max_num_seqs=2, max_model_len=256, num_cache_slots=2)
    )
    yield runner
    runner.close()


@pytest.fixture(scope="module")
def structured(runner: LlamaCppRunner) -> StructuredOutputs:
    return StructuredOutputs(runner.llguidance_tokenizer())


def _feed(runner: LlamaCppRunner, constraint: GrammarConstraint, text: str) -> bool:
    """Whether the constraint accepts text, token by token."""
    return all(constraint.accept(t) for t in runner.tokenize(text, add_special=False, parse_special=False))


def _constraint(structured: StructuredOutputs, tool_use: ToolUse, fmt: ToolFormat) -> GrammarConstraint:
    spec = tool_grammar_spec(tool_use, fmt)
    assert spec is not None
    return structured.constraint_for(spec)


@pytest.mark.parametrize("fmt", [GENERIC, HERMES, MISTRAL], ids=lambda f: f.name)
def test_required_accepts_a_valid_call_and_then_only_the_end(
    runner: LlamaCppRunner, structured: StructuredOutputs, fmt: ToolFormat
) -> None:
    constraint = _constraint(structured, ToolUse((WEATHER, TIME), ToolChoice.REQUIRED, parallel=False), fmt)
    assert _feed(runner, constraint, fmt.calls_text([ToolCall("get_weather", '{"city": "Oslo", "unit": "c"}')]))
    assert constraint.is_finished()


@pytest.mark.parametrize(
    "text",
    [
        "Sure! ",  # text instead of a call
        '{"name": "get_wether"',  # a function not in tools
        '{"name": "get_weather", "arguments": {"city": 3',  # an argument of the wrong type
        '{"name": "get_weather", "arguments": {"unit": "c"',  # required property skipped
    ],
)
def test_required_refuses_what_is_not_a_valid_call(
    runner: LlamaCppRunner, structured: StructuredOutputs, text: str
) -> None:
    constraint = _constraint(structured, ToolUse((WEATHER, TIME), ToolChoice.REQUIRED), GENERIC)
    assert not _feed(runner, constraint, text)


def test_a_named_function_is_the_only_one_allowed(runner: LlamaCppRunner, structured: StructuredOutputs) -> None:
    constraint = _constraint(structured, ToolUse((WEATHER, TIME), ToolChoice.FUNCTION, "get_time"), GENERIC)
    assert not _feed(runner, constraint, '{"name": "get_weather"')
    constraint = _constraint(structured, ToolUse((WEATHER, TIME), ToolChoice.FUNCTION, "get_time"), GENERIC)
    assert _feed(runner, constraint, '{"name": "get_time", "arguments": {"zone": "UTC"}}')


def test_parallel_calls_allow_a_second_call(runner: LlamaCppRunner, structured: StructuredOutputs) -> None:
    one = '<tool_call>\n{"name": "get_time", "arguments": {}}\n</tool_call>'
    constraint = _constraint(structured, ToolUse((TIME,), ToolChoice.REQUIRED, parallel=True), HERMES)
    assert _feed(runner, constraint, one + "\n" + one) and not constraint.is_finished()
    constraint = _constraint(structured, ToolUse((TIME,), ToolChoice.REQUIRED, parallel=False), HERMES)
    assert _feed(runner, constraint, one) and constraint.is_finished()


def test_auto_lets_text_through_until_a_call_starts(runner: LlamaCppRunner, structured: StructuredOutputs) -> None:
    tool_use = ToolUse((WEATHER,), ToolChoice.AUTO)
    constraint = _constraint(structured, tool_use, HERMES)
    assert _feed(runner, constraint, "It is sunny {probably}. ")
    assert _feed(runner, constraint, '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Rome", "unit": "c"}}')
    constraint = _constraint(structured, tool_use, HERMES)
    assert _feed(runner, constraint, "Let me check.\n<tool_call>\n")
    assert not _feed(runner, constraint, '{"name": "get_weather", "arguments": {"town": ')


def test_a_schema_that_cannot_compile_names_tools(structured: StructuredOutputs) -> None:
    bad = ToolSpec("f", parameters={"type": "object", "properties": {"x": {"type": "string", "pattern": "(?<=a)b"}}})
    with pytest.raises(InvalidRequest) as info:
        _constraint(structured, ToolUse((bad,), ToolChoice.REQUIRED), GENERIC)
    assert info.value.param == "tools"
