"""Wire models of the OpenAI dialect; each request converts itself to SamplingParams."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from openmaas.engine import MAX_TOP_LOGPROBS, SamplingParams, StructuredSpec, ToolChoice, ToolSpec, ToolUse
from openmaas.errors import InvalidRequest

logger = logging.getLogger(__name__)


class OpenAIBaseModel(BaseModel):
    """Accepts unknown fields (clients send extras) and logs their names."""

    model_config = ConfigDict(extra="allow")

    @model_validator(mode="after")
    def _log_extra_fields(self) -> OpenAIBaseModel:
        if self.model_extra:
            logger.info("ignoring unknown fields of %s: %s", type(self).__name__, sorted(self.model_extra))
        return self


class StreamOptions(OpenAIBaseModel):
    include_usage: bool = False


class ContentPart(OpenAIBaseModel):
    type: str
    text: str | None = None


class FunctionCall(OpenAIBaseModel):
    name: str
    # A JSON text, as OpenAI sends it; an object is accepted too.
    arguments: str | dict[str, Any] = "{}"


class MessageToolCall(OpenAIBaseModel):
    """A call an earlier assistant message made."""

    id: str | None = None
    type: Literal["function"] = "function"
    function: FunctionCall


class FunctionDefinition(OpenAIBaseModel):
    # OpenAI's rule for function names.
    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class ToolDefinition(OpenAIBaseModel):
    type: Literal["function"]
    function: FunctionDefinition

    def to_spec(self) -> ToolSpec:
        parameters = self.function.parameters
        if parameters is None:
            parameters = {"type": "object", "properties": {}}
        elif parameters.get("type", "object") != "object":
            raise InvalidRequest(
                f"the parameters of function '{self.function.name}' must be a JSON schema of type object",
                param="tools",
            )
        return ToolSpec(self.function.name, self.function.description, parameters)


class NamedFunction(OpenAIBaseModel):
    name: str


class NamedToolChoice(OpenAIBaseModel):
    type: Literal["function"]
    function: NamedFunction


class ChatMessage(OpenAIBaseModel):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = None
    name: str | None = None
    tool_calls: list[MessageToolCall] | None = None
    tool_call_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The message as chat templates take it (Hugging Face's convention)."""
        message: dict[str, Any] = {"role": self.role if self.role != "developer" else "system", "content": self.text()}
        if self.tool_calls:
            message["tool_calls"] = [
                {
                    "id": c.id,
                    "type": "function",
                    "function": {"name": c.function.name, "arguments": c.function.arguments},
                }
                for c in self.tool_calls
            ]
        if self.role == "tool":
            message["tool_call_id"] = self.tool_call_id
            if self.name is not None:
                message["name"] = self.name
        return message

    def text(self) -> str:
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        parts = []
        for part in self.content:
            if part.type != "text" or part.text is None:
                raise InvalidRequest(f"content parts of type '{part.type}' are not supported", param="messages")
            parts.append(part.text)
        return "".join(parts)


class JsonSchemaFormat(OpenAIBaseModel):
    name: str | None = None
    schema_: dict[str, Any] | None = Field(None, alias="schema")
    strict: bool | None = None


class ResponseFormat(OpenAIBaseModel):
    type: Literal["text", "json_object", "json_schema"] = "text"
    json_schema: JsonSchemaFormat | None = None

    def structured_spec(self) -> StructuredSpec | None:
        if self.type == "text":
            return None
        if self.type == "json_object":
            return StructuredSpec("json_object")
        if self.json_schema is None or self.json_schema.schema_ is None:
            raise InvalidRequest("response_format json_schema needs json_schema.schema", param="response_format")
        return StructuredSpec("json_schema", self.json_schema.schema_)


class SamplingFields(OpenAIBaseModel):
    """Fields shared by chat and completions, with OpenAI's defaults and vLLM's extensions."""

    model: str
    temperature: float | None = None
    top_p: float | None = None
    n: int = Field(1, ge=1, le=16)
    stream: bool = False
    stream_options: StreamOptions | None = None
    stop: str | list[str] | None = None
    seed: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    logit_bias: dict[str, float] | None = None
    user: str | None = None
    # Extensions users of vLLM and llama.cpp's server expect.
    top_k: int | None = None
    min_p: float | None = None
    top_a: float | None = None
    typical_p: float | None = None
    repetition_penalty: float | None = None
    min_tokens: int | None = None
    stop_token_ids: list[int] | None = None
    ignore_eos: bool = False
    response_format: ResponseFormat | None = None
    # Ollama's: how long the model stays loaded after this request (seconds or "5m"; 0 unloads it at once).
    keep_alive: float | str | None = None

    def under_defaults(self, defaults: Mapping[str, Any]) -> Self:
        """This request with defaults for the fields the client left out or sent as null.

        The client's own values win field by field, as over a deployment's defaults.
        """
        sent = self.model_fields_set
        missing = {
            name: value
            for name, value in defaults.items()
            if name in type(self).model_fields and (name not in sent or getattr(self, name) is None)
        }
        return self.model_copy(update=missing) if missing else self

    def sampling_params(
        self, max_tokens: int | None, *, logprobs: int | None = None, choice_index: int = 0
    ) -> SamplingParams:
        if isinstance(self.stop, str):
            stop: tuple[str, ...] = (self.stop,)
        else:
            stop = tuple(self.stop or ())
        logit_bias: dict[int, float] = {}
        for key, value in (self.logit_bias or {}).items():
            try:
                logit_bias[int(key)] = float(value)
            except ValueError:
                raise InvalidRequest(f"logit_bias keys must be token ids, got '{key}'", param="logit_bias") from None
        # Each of n choices draws from its own generator, else all would be equal.
        seed = None if self.seed is None else self.seed + choice_index
        return SamplingParams(
            temperature=1.0 if self.temperature is None else self.temperature,
            top_p=1.0 if self.top_p is None else self.top_p,
            top_k=self.top_k or 0,
            min_p=self.min_p or 0.0,
            top_a=self.top_a or 0.0,
            typical_p=1.0 if self.typical_p is None else self.typical_p,
            seed=seed,
            max_tokens=max_tokens,
            min_tokens=self.min_tokens or 0,
            stop=stop,
            stop_token_ids=tuple(self.stop_token_ids or ()),
            ignore_eos=self.ignore_eos,
            presence_penalty=self.presence_penalty or 0.0,
            frequency_penalty=self.frequency_penalty or 0.0,
            repetition_penalty=1.0 if self.repetition_penalty is None else self.repetition_penalty,
            logit_bias=logit_bias,
            logprobs=logprobs,
            structured=self.response_format.structured_spec() if self.response_format else None,
        )

    @property
    def include_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)


class ChatCompletionRequest(SamplingFields):
    messages: list[ChatMessage] = Field(min_length=1)
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = None
    tools: list[ToolDefinition] | None = None
    tool_choice: Literal["none", "auto", "required"] | NamedToolChoice | None = None
    parallel_tool_calls: bool | None = None

    def message_dicts(self) -> list[dict[str, Any]]:
        return [m.as_dict() for m in self.messages]

    def tool_use(self) -> ToolUse | None:
        """The request's tools as the engine's (None without tools); a tool_choice that cannot be met is a 400."""
        choice = self.tool_choice
        if not self.tools:
            if choice is not None and choice != "none":
                raise InvalidRequest("tool_choice needs tools: there is no function to call", param="tool_choice")
            return None
        specs = tuple(tool.to_spec() for tool in self.tools)
        parallel = self.parallel_tool_calls is not False
        if isinstance(choice, NamedToolChoice):
            return ToolUse(specs, ToolChoice.FUNCTION, choice.function.name, parallel=parallel)
        return ToolUse(specs, ToolChoice(choice or "auto"), parallel=parallel)

    def to_sampling_params(self, choice_index: int = 0) -> SamplingParams:
        if self.top_logprobs is not None and not self.logprobs:
            raise InvalidRequest("top_logprobs needs logprobs set to true", param="top_logprobs")
        # None: as many tokens as the context leaves, as vLLM does for chat.
        max_tokens = self.max_completion_tokens if self.max_completion_tokens is not None else self.max_tokens
        logprobs = (self.top_logprobs or 0) if self.logprobs else None
        return self.sampling_params(max_tokens, logprobs=logprobs, choice_index=choice_index)


class CompletionRequest(SamplingFields):
    prompt: str | list[str] | list[int] | list[list[int]]
    max_tokens: int | None = 16  # OpenAI's default for completions
    echo: bool = False
    # The number of most likely alternatives to report per token (0 = only the sampled one).
    logprobs: int | None = None
    suffix: str | None = None

    def to_sampling_params(self, choice_index: int = 0) -> SamplingParams:
        if self.suffix:
            raise InvalidRequest("suffix is not supported", param="suffix")
        if self.logprobs is not None and not 0 <= self.logprobs <= MAX_TOP_LOGPROBS:
            raise InvalidRequest(f"logprobs must be between 0 and {MAX_TOP_LOGPROBS}", param="logprobs")
        return self.sampling_params(self.max_tokens, logprobs=self.logprobs, choice_index=choice_index)


class TokenizeRequest(OpenAIBaseModel):
    """vLLM's /tokenize: the prompt's token ids as this server would compute them."""

    model: str
    prompt: str
    add_special_tokens: bool = True


class DetokenizeRequest(OpenAIBaseModel):
    model: str
    tokens: list[int]
