"""Wire models of the portal dialect: OpenAI's chat request with camelCase field names.

Every field of the shared models gets its camelCase alias (``maxTokens``,
``topP``, ``streamOptions.includeUsage``, ``responseFormat.jsonSchema``);
the snake_case names are accepted too. An alias generator applies to the
fields of the model whose config sets it, inherited ones included, but not
to nested models, which keep their own config: so every nested model with a
multi-word field has a camelCase subclass here.
"""

from __future__ import annotations

from pydantic import ConfigDict, Field
from pydantic.alias_generators import to_camel

from openmaas.api.completions.protocol import ChatCompletionRequest, ChatMessage, ResponseFormat, StreamOptions

# When a body holds both spellings of a field, the camelCase one wins and the
# other is an unknown field (logged, ignored).
CAMEL_CASE = ConfigDict(extra="allow", alias_generator=to_camel, populate_by_name=True)


class PortalStreamOptions(StreamOptions):
    model_config = CAMEL_CASE


class PortalResponseFormat(ResponseFormat):
    model_config = CAMEL_CASE


class PortalChatMessage(ChatMessage):
    model_config = CAMEL_CASE


class PortalChatCompletionRequest(ChatCompletionRequest):
    """The body of POST /api/v1/ai/chat/completions."""

    model_config = CAMEL_CASE

    messages: list[PortalChatMessage] = Field(min_length=1)  # type: ignore[assignment]
    stream_options: PortalStreamOptions | None = None
    response_format: PortalResponseFormat | None = None
