"""SamplingParams: how one request chooses its tokens, validated on creation."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from openmaas.errors import InvalidRequest

# A temperature below this is treated as greedy: dividing logits by it would
# overflow float32, and the draw would be the argmax anyway.
GREEDY_TEMPERATURE = 1e-5


def _check_range(name: str, value: float, low: float, high: float) -> None:
    if not (low <= value <= high):
        raise InvalidRequest(f"{name} must be between {low} and {high}, got {value}", param=name)


@dataclass(frozen=True, slots=True)
class StructuredSpec:
    """A constraint on the output's form: any JSON object, an instance of a JSON schema, or a grammar.

    ``lark`` is a grammar in llguidance's Lark dialect (tool calls are held to
    their format this way); ``param`` is the request field errors name.
    """

    kind: str  # "json_object" | "json_schema" | "lark"
    schema: dict[str, Any] | None = None
    grammar: str | None = None
    param: str = "response_format"

    def __post_init__(self) -> None:
        if self.kind not in ("json_object", "json_schema", "lark"):
            raise InvalidRequest(f"unknown structured output kind '{self.kind}'", param=self.param)
        if self.kind == "json_schema" and not isinstance(self.schema, dict):
            raise InvalidRequest("json_schema needs a schema object", param=self.param)
        if self.kind == "lark" and not self.grammar:
            raise InvalidRequest("a grammar is needed", param=self.param)


@dataclass(frozen=True, slots=True)
class SamplingParams:
    """Decoding settings of one request; ranges follow OpenRouter's documented ones.

    ``max_tokens=None`` means "as many as the context leaves"; a value larger
    than what is left is clamped, never an error.
    """

    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    min_p: float = 0.0
    top_a: float = 0.0
    typical_p: float = 1.0
    seed: int | None = None
    max_tokens: int | None = 16
    min_tokens: int = 0
    stop: tuple[str, ...] = ()
    stop_token_ids: tuple[int, ...] = ()
    ignore_eos: bool = False
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    repetition_penalty: float = 1.0
    logit_bias: dict[int, float] = field(default_factory=dict)
    # None: no logprobs; N >= 0: the sampled token's logprob and the N best alternatives.
    logprobs: int | None = None
    structured: StructuredSpec | None = None
    # Beam search (num_beams > 1) replaces sampling; Hugging Face's semantics (engine/beam.py).
    num_beams: int = 1
    length_penalty: float = 1.0
    early_stopping: bool | str = False

    def __post_init__(self) -> None:
        _check_range("temperature", self.temperature, 0.0, 2.0)
        _check_range("top_p", self.top_p, 0.0, 1.0)
        _check_range("min_p", self.min_p, 0.0, 1.0)
        _check_range("top_a", self.top_a, 0.0, 1.0)
        if not (0.0 < self.typical_p <= 1.0):
            raise InvalidRequest(f"typical_p must be in (0, 1], got {self.typical_p}", param="typical_p")
        if self.logprobs is not None:
            _check_range("top_logprobs", self.logprobs, 0, 20)
        _check_range("presence_penalty", self.presence_penalty, -2.0, 2.0)
        _check_range("frequency_penalty", self.frequency_penalty, -2.0, 2.0)
        if not (0.0 < self.repetition_penalty <= 2.0):
            raise InvalidRequest(
                f"repetition_penalty must be in (0, 2], got {self.repetition_penalty}",
                param="repetition_penalty",
            )
        if self.top_k < 0:
            raise InvalidRequest(f"top_k must be >= 0 (0 disables it), got {self.top_k}", param="top_k")
        if self.max_tokens is not None and self.max_tokens < 1:
            raise InvalidRequest(f"max_tokens must be at least 1, got {self.max_tokens}", param="max_tokens")
        if not 1 <= self.num_beams <= 16:
            raise InvalidRequest(f"num_beams must be between 1 and 16, got {self.num_beams}", param="num_beams")
        if not math.isfinite(self.length_penalty):
            raise InvalidRequest("length_penalty must be a finite number", param="length_penalty")
        if self.early_stopping not in (True, False, "never"):
            raise InvalidRequest('early_stopping must be true, false or "never"', param="early_stopping")
        if self.num_beams > 1 and (self.structured is not None or self.logprobs is not None):
            raise InvalidRequest("beam search does not combine with response_format or logprobs", param="num_beams")
        if self.min_tokens < 0:
            raise InvalidRequest(f"min_tokens must be >= 0, got {self.min_tokens}", param="min_tokens")
        if any(not s for s in self.stop):
            raise InvalidRequest("stop strings must not be empty", param="stop")
        for token_id, bias in self.logit_bias.items():
            if not (-100.0 <= bias <= 100.0):
                raise InvalidRequest(f"logit_bias for token {token_id} must be in [-100, 100]", param="logit_bias")

    @property
    def is_greedy(self) -> bool:
        return self.temperature < GREEDY_TEMPERATURE or self.top_k == 1

    @property
    def has_penalties(self) -> bool:
        return self.presence_penalty != 0.0 or self.frequency_penalty != 0.0 or self.repetition_penalty != 1.0
