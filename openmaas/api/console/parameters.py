"""/api/console/parameters: the playground's settings, described from what the API validates with.

Each numeric setting's bounds and refusal message come from the engine's
``RANGES`` (what ``SamplingParams`` checks) or from the wire model's own
constraints (``n``), and the default the API applies from ``SamplingParams``'
field defaults; so the form refuses exactly what the API refuses, with the API's
words. ``preset`` is the value the form starts with (none: the field is left out
of the request and the API's default applies).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import annotated_types
from fastapi import APIRouter

from openmaas.api.auth import KeyDep
from openmaas.api.completions.protocol import SamplingFields
from openmaas.engine.sampling_params import RANGES, SamplingParams

router = APIRouter(prefix="/api/console", tags=["console"])

# (name, label, step, preset, primary, hint): primary settings are always shown, the others under "More settings".
NUMERIC: tuple[tuple[str, str, float, float | None, bool, str], ...] = (
    ("temperature", "Temperature", 0.05, 0.7, True, "Randomness: 0 always takes the likeliest token."),
    ("max_tokens", "Max tokens", 1, 4096, True, "The most tokens an answer may have."),
    ("top_k", "Top K", 1, 40, True, "Sample from the K likeliest tokens only (0: all)."),
    ("top_p", "Top P", 0.01, 0.9, True, "Sample from the likeliest tokens whose probabilities add up to P."),
    ("frequency_penalty", "Frequency penalty", 0.1, 0, True, "Less of a token the more often it appeared."),
    ("presence_penalty", "Presence penalty", 0.1, 0, True, "Less of any token that appeared at all."),
    ("min_p", "Min P", 0.01, None, False, "Drop tokens less likely than min_p times the likeliest."),
    ("top_a", "Top A", 0.01, None, False, "Drop tokens below top_a times the likeliest's probability squared."),
    ("repetition_penalty", "Repetition penalty", 0.05, None, False, "Above 1: less of any token already seen."),
)
SEED_HINT = "The same seed, settings and prompt give the same answer."


def _number(name: str, label: str, step: float, preset: float | None, primary: bool, hint: str) -> dict[str, Any]:
    bounds = RANGES[name]
    default = next(field.default for field in dataclasses.fields(SamplingParams) if field.name == name)
    return {
        "name": name,
        "label": label,
        "type": "integer" if bounds.integer else "number",
        "min": bounds.low,
        "max": bounds.high,
        "min_exclusive": bounds.low_open,
        "step": step,
        "preset": preset,
        "api_default": default,
        "primary": primary,
        "hint": hint,
        "message": bounds.message,
    }


def _n() -> dict[str, Any]:
    """n's bounds are the wire model's (pydantic's ge/le), refused in pydantic's words as the API renders them."""
    metadata = SamplingFields.model_fields["n"].metadata
    low = next(item.ge for item in metadata if isinstance(item, annotated_types.Ge))
    high = next(item.le for item in metadata if isinstance(item, annotated_types.Le))
    return {
        "name": "n",
        "label": "Choices (n)",
        "type": "integer",
        "min": low,
        "max": high,
        "min_exclusive": False,
        "step": 1,
        "preset": None,
        "api_default": SamplingFields.model_fields["n"].default,
        "primary": False,
        "hint": "How many answers to generate for one request.",
        "message_below": f"n: Input should be greater than or equal to {low}",
        "message": f"n: Input should be less than or equal to {high}",
    }


def parameters() -> list[dict[str, Any]]:
    numbers = [_number(*row) for row in NUMERIC]
    seed = {
        "name": "seed",
        "label": "Seed",
        "type": "integer",
        "min": None,
        "max": None,
        "min_exclusive": False,
        "step": 1,
        "preset": None,
        "api_default": None,
        "primary": False,
        "hint": SEED_HINT,
        "message": "",
    }
    others: list[dict[str, Any]] = [
        {
            "name": "stop",
            "label": "Stop sequences",
            "type": "strings",
            "primary": False,
            "hint": "One per line: the answer ends before any of them.",
            "message": "stop strings must not be empty",
        },
        {
            "name": "logit_bias",
            "label": "Logit bias",
            "type": "logit_bias",
            "primary": False,
            "hint": 'A JSON object of token id to bias, e.g. {"1234": -100}.',
            "message": RANGES["logit_bias"].message,
            "min": RANGES["logit_bias"].low,
            "max": RANGES["logit_bias"].high,
        },
        {
            "name": "response_format",
            "label": "Response format",
            "type": "response_format",
            "primary": False,
            "choices": ["text", "json_object", "json_schema"],
            "hint": "JSON object: any JSON object; JSON schema: an instance of the schema.",
            "message": "response_format json_schema needs json_schema.schema",
        },
        {
            "name": "top_logprobs",
            "label": "Top alternatives",
            "type": "integer",
            "min": RANGES["top_logprobs"].low,
            "max": RANGES["top_logprobs"].high,
            "min_exclusive": False,
            "step": 1,
            "preset": 5,
            "api_default": 0,
            "primary": False,
            "hint": "Alternatives shown per token when token probabilities are on.",
            "message": RANGES["top_logprobs"].message,
        },
    ]
    return [*numbers, seed, _n(), *others]


@router.get("/parameters")
async def list_parameters(_caller: KeyDep) -> dict[str, Any]:
    """The request settings the playground's form offers, with the API's ranges, defaults and messages."""
    data = parameters()
    return {"object": "list", "data": data, "count": len(data)}
