"""Chat templates: the GGUF's own Jinja template first, else a built-in one for the model family.

Templates are rendered in Jinja's immutable sandbox with the variables that
Hugging Face templates expect (``messages``, ``tools``, ``add_generation_prompt``,
``bos_token``, ``eos_token``, ``raise_exception``, ``strftime_now``, and its
``tojson`` filter). A request's tools reach the template through
``engine/tools/render.py``, in the call format the template's source names.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from openmaas.engine.tools.formats import ToolFormat, format_for_template
from openmaas.engine.tools.render import prepare_conversation
from openmaas.engine.tools.spec import ToolUse
from openmaas.errors import InvalidRequest

# Templates that refuse anything but alternating roles say so in their error text.
_ALTERNATION = re.compile(r"alternat", re.IGNORECASE)

# Gemma's turn format; a system message is folded into the first user turn,
# as Google's own template does.
GEMMA_TEMPLATE = (
    "{{- bos_token -}}"
    "{%- if messages and messages[0]['role'] == 'system' -%}"
    "{%- set first_user_prefix = messages[0]['content'] + '\n\n' -%}"
    "{%- set loop_messages = messages[1:] -%}"
    "{%- else -%}"
    "{%- set first_user_prefix = '' -%}"
    "{%- set loop_messages = messages -%}"
    "{%- endif -%}"
    "{%- for message in loop_messages -%}"
    "{%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}"
    "{{- raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') -}}"
    "{%- endif -%}"
    "{%- set role = 'model' if message['role'] == 'assistant' else message['role'] -%}"
    "{{- '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else '') -}}"
    "{{- message['content'] | trim -}}"
    "{{- '<end_of_turn>\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<start_of_turn>model\n' -}}{%- endif -%}"
)

CHATML_TEMPLATE = (
    "{%- for message in messages -%}"
    "{{- '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\n' -}}{%- endif -%}"
)

# Model family (GGUF general.architecture) -> built-in template. Families not
# listed fall back to ChatML, the most common format of GGUFs without one.
BUILTIN_TEMPLATES: dict[str, str] = {
    "gemma": GEMMA_TEMPLATE,
    "gemma2": GEMMA_TEMPLATE,
    "gemma3": GEMMA_TEMPLATE,
    "gemma3n": GEMMA_TEMPLATE,
    "qwen2": CHATML_TEMPLATE,
    "qwen3": CHATML_TEMPLATE,
}


def _raise_exception(message: str) -> None:
    raise InvalidRequest(f"chat template: {message}", param="messages")


def _strftime_now(fmt: str) -> str:
    return dt.datetime.now(dt.UTC).strftime(fmt)


def _tojson(value: Any, indent: int | None = None, ensure_ascii: bool = False, sort_keys: bool = False) -> str:
    # Hugging Face's tojson: plain JSON. Jinja's own escapes <, > and & for HTML,
    # which would put \u003c into prompts.
    return json.dumps(value, indent=indent, ensure_ascii=ensure_ascii, sort_keys=sort_keys)


class ChatTemplate:
    """A compiled chat template and the special tokens it refers to."""

    def __init__(self, source: str, *, bos_token: str, eos_token: str, origin: str) -> None:
        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)
        env.globals["raise_exception"] = _raise_exception
        env.globals["strftime_now"] = _strftime_now
        env.filters["tojson"] = _tojson
        self.origin = origin
        self.bos_token = bos_token
        self.tool_format: ToolFormat = format_for_template(source)
        self.requires_alternation = _ALTERNATION.search(source) is not None
        self._template = env.from_string(source)
        self._eos_token = eos_token

    def render(
        self, messages: list[dict[str, Any]], *, add_generation_prompt: bool = True, tools: ToolUse | None = None
    ) -> str:
        """The prompt text; consecutive same-role messages are merged when the template needs alternation."""
        messages, tool_dicts = prepare_conversation(
            messages, tools, self.tool_format, requires_alternation=self.requires_alternation
        )
        try:
            return self._template.render(
                messages=messages,
                tools=tool_dicts,
                add_generation_prompt=add_generation_prompt,
                bos_token=self.bos_token,
                eos_token=self._eos_token,
            )
        except InvalidRequest:
            raise
        except jinja2.TemplateError as exc:
            raise InvalidRequest(f"the chat template could not render these messages: {exc}", param="messages") from exc


def select_chat_template(
    gguf_template: str | None, architecture: str, *, bos_token: str, eos_token: str
) -> ChatTemplate:
    """The GGUF's template if it has one, else the built-in one for its family."""
    if gguf_template:
        source, origin = gguf_template, "gguf"
    else:
        family = architecture.lower()
        if family in BUILTIN_TEMPLATES:
            source, origin = BUILTIN_TEMPLATES[family], f"builtin:{family}"
        else:
            source, origin = CHATML_TEMPLATE, "builtin:chatml"
    return ChatTemplate(source, bos_token=bos_token, eos_token=eos_token, origin=origin)
