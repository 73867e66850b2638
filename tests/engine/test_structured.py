"""Structured outputs on the real model: masks keep every output inside its JSON grammar.

Generation runs through LlamaCppRunner directly, with a small sampling loop
written here (mask, then argmax or a seeded temperature draw, then accept), so
these tests check structured.py alone, not its integration into the engine.
Up to four sequences are decoded together in consecutive slots to keep the
file fast; a finished sequence keeps its row (its last token, fed again, the
result ignored) until the whole group is done, so the decoded slots stay one
consecutive run.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest

from openmaas.engine.config import EngineConfig
from openmaas.engine.runners.llama_cpp import LlamaCppRunner
from openmaas.engine.sampling_params import StructuredSpec
from openmaas.engine.structured import (
    GrammarConstraint,
    StructuredOutputs,
    allowed_tokens,
    fill_masks,
    mask_logits,
    new_mask_buffer,
)
from openmaas.errors import InvalidRequest

# Every schema below is built so that a valid instance is short: a sequence
# that has not finished its grammar after this many tokens fails the test.
TOKEN_CAP = 120
GROUP_SIZE = 4
SEED = 1234


@pytest.fixture(scope="module")
def runner(model_path: Path) -> Iterator[LlamaCppRunner]:
    config = EngineConfig(model_path=str(model_path), max_num_seqs=4, max_model_len=512, num_cache_slots=2)
    runner = LlamaCppRunner(config)
    yield runner
    runner.close()


@pytest.fixture(scope="module")
def tokenizer(runner: LlamaCppRunner) -> Any:
    return runner.llguidance_tokenizer()


@pytest.fixture(scope="module")
def structured(tokenizer: Any) -> StructuredOutputs:
    return StructuredOutputs(tokenizer)


def _obj(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties) if required is None else required,
        "additionalProperties": False,
    }


NAME = {"type": "string", "maxLength": 12}

# (task for the prompt, schema)
SCHEMAS: list[tuple[str, dict[str, Any]]] = [
    ("Describe a person.", _obj({"name": NAME, "age": {"type": "integer", "minimum": 0, "maximum": 120}})),
    ("Pick a color.", _obj({"color": {"enum": ["red", "green", "blue"]}})),
    ("Describe a user account.", _obj({"active": {"type": "boolean"}, "verified": {"type": "boolean"}})),
    ("Give a nickname, or null.", _obj({"nickname": {"type": ["string", "null"], "maxLength": 10}})),
    (
        "Tag a blog post about cooking.",
        _obj({"tags": {"type": "array", "items": NAME, "minItems": 1, "maxItems": 3}}),
    ),
    (
        "Give an address.",
        _obj({"address": _obj({"city": NAME, "zip": {"type": "string", "pattern": "^[0-9]{5}$"}})}),
    ),
    (
        "Report the weather.",
        _obj({"celsius": {"type": "number", "minimum": -50, "maximum": 60}, "sunny": {"type": "boolean"}}),
    ),
    (
        "Roll some dice.",
        _obj(
            {
                "rolls": {
                    "type": "array",
                    "items": {"type": "integer", "minimum": 1, "maximum": 6},
                    "minItems": 2,
                    "maxItems": 4,
                }
            }
        ),
    ),
    (
        "List three small numbers.",
        {
            "type": "array",
            "items": {"type": "integer", "minimum": 0, "maximum": 99},
            "minItems": 1,
            "maxItems": 3,
        },
    ),
    ("Give the API version.", _obj({"version": {"const": 2}, "name": NAME})),
    (
        "Give a value.",
        _obj(
            {
                "value": {
                    "anyOf": [
                        {"type": "integer", "minimum": 0, "maximum": 9},
                        {"type": "string", "maxLength": 8},
                    ]
                }
            }
        ),
    ),
    (
        "Write a shopping list.",
        _obj(
            {
                "items": {
                    "type": "array",
                    "items": _obj({"name": NAME, "qty": {"type": "integer", "minimum": 1, "maximum": 10}}),
                    "minItems": 1,
                    "maxItems": 2,
                }
            }
        ),
    ),
    (
        "Describe a book; the subtitle is optional.",
        _obj(
            {"title": NAME, "subtitle": NAME, "pages": {"type": "integer", "minimum": 1, "maximum": 999}},
            required=["title"],
        ),
    ),
    (
        "Give a test score, or null if absent.",
        _obj({"score": {"type": ["integer", "null"], "minimum": 0, "maximum": 100}}),
    ),
    (
        "Give a line segment.",
        {
            "$defs": {
                "point": _obj(
                    {
                        "x": {"type": "integer", "minimum": -9, "maximum": 9},
                        "y": {"type": "integer", "minimum": -9, "maximum": 9},
                    }
                )
            },
            **_obj({"start": {"$ref": "#/$defs/point"}, "end": {"$ref": "#/$defs/point"}}),
        },
    ),
    (
        "Pick meeting days.",
        _obj(
            {
                "days": {
                    "type": "array",
                    "items": {"enum": ["mon", "tue", "wed", "thu", "fri"]},
                    "minItems": 1,
                    "maxItems": 2,
                }
            }
        ),
    ),
    (
        "Report a job's state.",
        _obj({"ok": {"type": "boolean"}, "status": {"enum": ["pending", "running", "done"]}}),
    ),
    (
        "Nest three levels.",
        _obj({"a": _obj({"b": _obj({"c": {"type": "integer", "minimum": 0, "maximum": 9}})})}),
    ),
    (
        "Give a ratio and a percentage.",
        _obj(
            {
                "ratio": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1, "multipleOf": 0.25},
                "percent": {"type": "integer", "minimum": 0, "maximum": 100},
            }
        ),
    ),
    (
        "Give a product code and stock count, and its manager or null.",
        _obj(
            {
                "code": {"type": "string", "minLength": 3, "maxLength": 6},
                "stock": {"type": "integer", "minimum": 0, "maximum": 1000},
                "manager": {"anyOf": [{"type": "null"}, _obj({"name": NAME})]},
            }
        ),
    ),
]

# Free-form JSON has no length bound, and at temperature 1.0 this small model
# often wanders off into long objects; at 0.5 each of these prompts closed its
# object within 30 tokens over eight seeds.
JSON_OBJECT_TASKS = [
    'Give a JSON object with the name and age of a cat, like {"name": "Tom", "age": 3}.',
    'Return a JSON object with two keys, "city" and "country", for Paris.',
    'Return a JSON object with two keys, "country" and "capital", for Japan.',
]
JSON_OBJECT_TEMPERATURE = 0.5


def _prompt(runner: LlamaCppRunner, task: str) -> list[int]:
    # The schema itself is not in the prompt: the grammar alone has to bring
    # the output into shape (and short prompts keep the file fast).
    chat = f"<start_of_turn>user\n{task}<end_of_turn>\n<start_of_turn>model\n"
    return runner.tokenize(chat, add_special=True, parse_special=True)


@dataclass
class Generation:
    constraint: GrammarConstraint
    rng: np.random.Generator | None  # None: greedy
    temperature: float = 1.0
    output: list[int] = field(default_factory=list)
    done: bool = False

    @property
    def active(self) -> bool:
        return not self.done


def _pick(row: np.ndarray, rng: np.random.Generator | None, temperature: float) -> int:
    if rng is None:
        return int(np.argmax(row))
    top = float(row.max())
    probs = np.exp((row.astype(np.float64) - top) / temperature)  # masked tokens get 0
    cumulative = np.cumsum(probs)
    return int(np.searchsorted(cumulative, rng.random() * cumulative[-1], side="right"))


def _generate_group(runner: LlamaCppRunner, group: list[tuple[list[int], Generation]]) -> None:
    """Runs up to GROUP_SIZE sequences together in slots 0.., each to its grammar's end or the cap."""
    masks = new_mask_buffer(len(group), runner.n_vocab)
    rows: list[tuple[int, int, int]] = []
    for slot, (prompt, _) in enumerate(group):
        runner.trim_sequence(slot, 0)
        rows.append((slot, 0, len(prompt)))
    sequences = [seq for _, seq in group]

    def take(index: int, logits: np.ndarray) -> None:
        seq = sequences[index]
        token = _pick(mask_logits(logits, masks[index]), seq.rng, seq.temperature)
        assert seq.constraint.accept(token), seq.constraint.error
        seq.output.append(token)
        # Stop at the grammar's end, or if the model chose to end where that was allowed.
        seq.done = seq.constraint.is_finished() or len(seq.output) >= TOKEN_CAP
        rows[index] = (rows[index][0], token, rows[index][2])

    fill_masks([seq.constraint for seq in sequences], masks)
    for slot, (prompt, _) in enumerate(group):
        logits = runner.run_prompt_chunk(slot, prompt, 0, True)
        assert logits is not None
        take(slot, logits)
    while any(seq.active for seq in sequences):
        fill_masks([seq.constraint if seq.active else None for seq in sequences], masks)
        logits = runner.run_decode(rows, pad_slots=[], pad=False)
        rows = [(slot, token, position + 1) for slot, token, position in rows]
        for index, seq in enumerate(sequences):
            if seq.active:
                take(index, logits[index])


def _generate(
    runner: LlamaCppRunner,
    structured: StructuredOutputs,
    jobs: list[tuple[list[int], StructuredSpec, int | None]],
    temperature: float = 1.0,
) -> list[Generation]:
    """Generates one output per (prompt, spec, seed) job; seed None means greedy."""
    sequences = [
        Generation(
            structured.constraint_for(spec),
            None if seed is None else np.random.default_rng(seed),
            temperature,
        )
        for _, spec, seed in jobs
    ]
    for start in range(0, len(jobs), GROUP_SIZE):
        group = [(jobs[i][0], sequences[i]) for i in range(start, min(start + GROUP_SIZE, len(jobs)))]
        _generate_group(runner, group)
    return sequences


def _text(runner: LlamaCppRunner, structured: StructuredOutputs, seq: Generation) -> str:
    pieces = [runner.token_piece(t) for t in seq.output if t not in structured.eos_token_ids]
    return b"".join(pieces).decode("utf-8")


@pytest.mark.parametrize("seed", [None, SEED], ids=["greedy", "temperature-1"])
def test_json_schema_outputs_are_instances(
    runner: LlamaCppRunner, structured: StructuredOutputs, seed: int | None
) -> None:
    jobs = [
        (
            _prompt(runner, task + " Answer in JSON only."),
            StructuredSpec("json_schema", schema),
            None if seed is None else seed + i,
        )
        for i, (task, schema) in enumerate(SCHEMAS)
    ]
    sequences = _generate(runner, structured, jobs)
    failures = []
    for (task, schema), seq in zip(SCHEMAS, sequences, strict=True):
        text = _text(runner, structured, seq)
        if not seq.constraint.is_finished():
            failures.append(f"{task!r}: hit the {TOKEN_CAP}-token cap: {text!r}")
            continue
        try:
            jsonschema.validate(json.loads(text), schema)
        except (ValueError, jsonschema.ValidationError) as exc:
            failures.append(f"{task!r}: {text!r}: {exc}")
    assert not failures, "\n".join(failures)


def test_json_object_outputs_parse(runner: LlamaCppRunner, structured: StructuredOutputs) -> None:
    spec = StructuredSpec("json_object")
    jobs = [(_prompt(runner, task), spec, seed) for task in JSON_OBJECT_TASKS for seed in (None, SEED, SEED + 1)]
    sequences = _generate(runner, structured, jobs, JSON_OBJECT_TEMPERATURE)
    for seq in sequences:
        text = _text(runner, structured, seq)
        assert seq.constraint.is_finished(), f"hit the {TOKEN_CAP}-token cap: {text!r}"
        assert isinstance(json.loads(text), dict), text


def test_end_of_generation_allowed_exactly_when_complete(runner: LlamaCppRunner, structured: StructuredOutputs) -> None:
    schema = _obj({"n": {"type": "integer", "minimum": 0, "maximum": 9}})
    constraint = structured.constraint_for(StructuredSpec("json_schema", schema))
    eog = sorted(structured.eos_token_ids)
    assert set(eog) == set(runner.end_of_generation_ids())
    for token in runner.tokenize('{"n": 7', add_special=False, parse_special=False):
        assert not constraint.allowed_tokens()[eog].any()
        assert constraint.accept(token)
    assert not constraint.is_finished()
    for token in runner.tokenize("}", add_special=False, parse_special=False):
        assert constraint.accept(token)
    assert constraint.is_finished() and constraint.is_accepting()
    # Nothing but end of generation (EOS or end-of-turn) may follow the closing brace.
    assert np.flatnonzero(constraint.allowed_tokens()).tolist() == eog
    assert constraint.accept(eog[-1])


def test_forbidden_token_is_refused(runner: LlamaCppRunner, structured: StructuredOutputs) -> None:
    constraint = structured.constraint_for(StructuredSpec("json_object"))
    (letter,) = runner.tokenize("x", add_special=False, parse_special=False)
    assert not constraint.allowed_tokens()[letter]
    assert not constraint.accept(letter)
    assert constraint.error is not None and constraint.is_finished()
    assert not constraint.accept(-1) and not constraint.accept(runner.n_vocab)


def test_batched_masks_match_single_ones(runner: LlamaCppRunner, structured: StructuredOutputs) -> None:
    constraints = [structured.constraint_for(StructuredSpec("json_schema", s)) for _, s in SCHEMAS[:3]]
    for token in runner.tokenize('{"', add_special=False, parse_special=False):
        assert all(c.accept(token) for c in constraints)
    out = new_mask_buffer(5, runner.n_vocab)
    out[:] = 0
    batch: list[GrammarConstraint | None] = [constraints[0], None, constraints[1], constraints[2]]
    rows = fill_masks(batch, out)
    assert rows.shape == (4, out.shape[1])
    for row, constraint in zip(rows, batch, strict=True):
        if constraint is None:
            assert (row == -1).all()
        else:
            assert np.array_equal(row, constraint.fill_mask())
    assert (out[4] == 0).all()
    # After '{"' each schema allows only its own first key to go on.
    allowed = allowed_tokens(rows[0], runner.n_vocab)
    assert allowed[runner.tokenize("name", add_special=False, parse_special=False)[0]]
    assert not allowed[runner.tokenize("color", add_special=False, parse_special=False)[0]]


def test_compiled_grammars_are_cached_and_copies_independent(runner: LlamaCppRunner, tokenizer: Any) -> None:
    cache = StructuredOutputs(tokenizer, cache_size=2)
    specs = [StructuredSpec("json_schema", s) for _, s in SCHEMAS[:3]]
    first = cache.constraint_for(specs[0])
    second = cache.constraint_for(specs[0])
    assert cache.num_cached_grammars == 1
    for token in runner.tokenize('{"name": "', add_special=False, parse_special=False):
        assert first.accept(token)
    assert not np.array_equal(first.fill_mask(), second.fill_mask())
    cache.constraint_for(specs[1])
    cache.constraint_for(specs[2])
    assert cache.num_cached_grammars == 2


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "foo"},
        {"$ref": "#/$defs/missing"},
        {"type": "integer", "minimum": 5, "maximum": 1},
        {"type": "array", "uniqueItems": True},
        # A client cannot switch llguidance to ignoring what it does not implement.
        {"type": "array", "uniqueItems": True, "x-guidance": {"lenient": True}},
        {"type": "string", "pattern": "(unclosed"},
        {"type": "string", "format": "no-such-format"},
        {"type": "number", "maximum": float("nan")},
    ],
)
def test_bad_schema_is_invalid_request(structured: StructuredOutputs, schema: dict[str, Any]) -> None:
    with pytest.raises(InvalidRequest) as info:
        structured.constraint_for(StructuredSpec("json_schema", schema))
    assert info.value.param == "response_format"
