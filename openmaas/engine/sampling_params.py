"""SamplingParams: how one request chooses its tokens, validated on creation."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from openmaas.errors import InvalidRequest

# A temperature below this is treated as greedy: dividing logits by it would
# overflow float32, and the draw would be the argmax anyway.
GREEDY_TEMPERATURE = 1e-5


@dataclass(frozen=True, slots=True)
class NumberRange:
    """The values a numeric field takes, and the message that refuses any other.

    One source for the check below, the console's form (``/api/console/parameters``
    serves these) and the docs; ``message`` is a template with ``{value}`` (and
    ``{token}`` for logit_bias). ``None`` bounds are open-ended.
    """

    message: str
    low: float | None = None
    high: float | None = None
    # The low bound itself is refused (typical_p, repetition_penalty).
    low_open: bool = False
    integer: bool = False

    def contains(self, value: float) -> bool:
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return self.high is None or value <= self.high

    def check(self, name: str, value: float, **fields: object) -> None:
        if not self.contains(value):
            raise InvalidRequest(self.message.format(value=value, **fields), param=name)


def _between(name: str, low: float, high: float, *, integer: bool = False) -> NumberRange:
    return NumberRange(f"{name} must be between {low} and {high}, got {{value}}", low, high, integer=integer)


# SamplingParams' numeric fields, by their API name.
RANGES: dict[str, NumberRange] = {
    "temperature": _between("temperature", 0.0, 2.0),
    "top_p": _between("top_p", 0.0, 1.0),
    "min_p": _between("min_p", 0.0, 1.0),
    "top_a": _between("top_a", 0.0, 1.0),
    "typical_p": NumberRange("typical_p must be in (0, 1], got {value}", 0.0, 1.0, low_open=True),
    "top_logprobs": _between("top_logprobs", 0, 20, integer=True),
    "presence_penalty": _between("presence_penalty", -2.0, 2.0),
    "frequency_penalty": _between("frequency_penalty", -2.0, 2.0),
    "repetition_penalty": NumberRange("repetition_penalty must be in (0, 2], got {value}", 0.0, 2.0, low_open=True),
    "top_k": NumberRange("top_k must be >= 0 (0 disables it), got {value}", 0, integer=True),
    "max_tokens": NumberRange("max_tokens must be at least 1, got {value}", 1, integer=True),
    "min_tokens": NumberRange("min_tokens must be >= 0, got {value}", 0, integer=True),
    "num_beams": _between("num_beams", 1, 16, integer=True),
    # Each value of the logit_bias object (keys are token ids).
    "logit_bias": NumberRange("logit_bias for token {token} must be in [-100, 100]", -100.0, 100.0),
}


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
        for name in ("temperature", "top_p", "min_p", "top_a", "typical_p"):
            RANGES[name].check(name, getattr(self, name))
        if self.logprobs is not None:
            RANGES["top_logprobs"].check("top_logprobs", self.logprobs)
        for name in ("presence_penalty", "frequency_penalty", "repetition_penalty", "top_k"):
            RANGES[name].check(name, getattr(self, name))
        if self.max_tokens is not None:
            RANGES["max_tokens"].check("max_tokens", self.max_tokens)
        RANGES["num_beams"].check("num_beams", self.num_beams)
        if not math.isfinite(self.length_penalty):
            raise InvalidRequest("length_penalty must be a finite number", param="length_penalty")
        if self.early_stopping not in (True, False, "never"):
            raise InvalidRequest('early_stopping must be true, false or "never"', param="early_stopping")
        if self.num_beams > 1 and (self.structured is not None or self.logprobs is not None):
            raise InvalidRequest("beam search does not combine with response_format or logprobs", param="num_beams")
        RANGES["min_tokens"].check("min_tokens", self.min_tokens)
        if any(not s for s in self.stop):
            raise InvalidRequest("stop strings must not be empty", param="stop")
        for token_id, bias in self.logit_bias.items():
            RANGES["logit_bias"].check("logit_bias", bias, token=token_id)

    @property
    def is_greedy(self) -> bool:
        return self.temperature < GREEDY_TEMPERATURE or self.top_k == 1

    @property
    def has_penalties(self) -> bool:
        return self.presence_penalty != 0.0 or self.frequency_penalty != 0.0 or self.repetition_penalty != 1.0
