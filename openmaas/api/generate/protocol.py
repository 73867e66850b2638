"""Wire models of the generate dialect, with Hugging Face's generation_config semantics."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from openmaas.engine import SamplingParams

logger = logging.getLogger(__name__)
T = TypeVar("T")


def pick(value: T | None, default: T) -> T:
    return default if value is None else value


class _WireModel(BaseModel):
    """Accepts unknown fields (clients send extras) and logs their names."""

    model_config = ConfigDict(extra="allow")

    @model_validator(mode="after")
    def _log_extra_fields(self) -> _WireModel:
        if self.model_extra:
            logger.info("ignoring unknown fields of %s: %s", type(self).__name__, sorted(self.model_extra))
        return self


@dataclass(frozen=True, slots=True)
class GenerationDefaults:
    """What an omitted generation_config field means; from settings (environment or .env)."""

    num_beams: int = 1
    do_sample: bool = True
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 50
    max_new_tokens: int = 256
    repetition_penalty: float = 1.0
    length_penalty: float = 1.0


class GenerationConfig(_WireModel):
    num_beams: int | None = Field(default=None, ge=1)
    do_sample: bool | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = Field(default=None, ge=0)
    max_new_tokens: int | None = Field(default=None, ge=1)
    repetition_penalty: float | None = None
    length_penalty: float | None = None

    def to_sampling_params(self, defaults: GenerationDefaults) -> SamplingParams:
        """do_sample false is greedy; num_beams > 1 is beam search (sampling settings then do not apply)."""

        do_sample = pick(self.do_sample, defaults.do_sample)
        return SamplingParams(
            temperature=pick(self.temperature, defaults.temperature) if do_sample else 0.0,
            top_p=pick(self.top_p, defaults.top_p),
            top_k=pick(self.top_k, defaults.top_k),
            max_tokens=pick(self.max_new_tokens, defaults.max_new_tokens),
            repetition_penalty=pick(self.repetition_penalty, defaults.repetition_penalty),
            num_beams=pick(self.num_beams, defaults.num_beams),
            length_penalty=pick(self.length_penalty, defaults.length_penalty),
        )


class GenerateRequest(_WireModel):
    request_id: str = Field(min_length=1, max_length=256)
    prompt: str
    only_new_tokens: bool = True
    stream_response: bool = True
    generation_config: GenerationConfig = Field(default_factory=lambda: GenerationConfig())
    # Not in the seed: which served model; the server's first model when omitted.
    model: str | None = None
    # Ollama's: how long the model stays loaded after this call (seconds or "5m"; 0 unloads it at once).
    keep_alive: float | str | None = None


class BatchPrompt(_WireModel):
    request_id: str = Field(min_length=1, max_length=256)
    prompt: str


class GenerateBatchRequest(_WireModel):
    prompts: list[BatchPrompt] = Field(min_length=1, max_length=64)
    only_new_tokens: bool = True
    generation_config: GenerationConfig = Field(default_factory=lambda: GenerationConfig())
    model: str | None = None
    keep_alive: float | str | None = None
