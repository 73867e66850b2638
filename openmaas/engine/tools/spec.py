"""The engine's own description of a request's tools and of the calls a model made.

The API layer translates its wire models into these; nothing here knows any dialect.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field
from typing import Any

from openmaas.errors import InvalidRequest


class ToolChoice(enum.StrEnum):
    """Whether the model may, must, or must not call a tool (FUNCTION: must call ``ToolUse.function``)."""

    NONE = "none"
    AUTO = "auto"
    REQUIRED = "required"
    FUNCTION = "function"


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """One function the model may call: its name, what it does, and its arguments' JSON schema."""

    name: str
    description: str | None = None
    parameters: dict[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})

    def as_template_dict(self) -> dict[str, Any]:
        """The Hugging Face chat-template form of a tool (what ``tools`` holds in a template)."""
        function: dict[str, Any] = {"name": self.name, "parameters": self.parameters}
        if self.description is not None:
            function["description"] = self.description
        return {"type": "function", "function": function}


@dataclass(frozen=True, slots=True)
class ToolUse:
    """A request's tools and how it wants them used."""

    tools: tuple[ToolSpec, ...]
    choice: ToolChoice = ToolChoice.AUTO
    # The function the model must call, when choice is FUNCTION.
    function: str | None = None
    parallel: bool = True

    def __post_init__(self) -> None:
        if not self.tools:
            raise InvalidRequest("tools must hold at least one function", param="tools")
        names = [tool.name for tool in self.tools]
        if len(set(names)) != len(names):
            raise InvalidRequest("tools must have distinct function names", param="tools")
        if self.choice is ToolChoice.FUNCTION and self.function not in names:
            raise InvalidRequest(
                f"tool_choice names the function '{self.function}', which is not in tools", param="tool_choice"
            )

    @property
    def is_constrained(self) -> bool:
        """The model must call a tool: generation is held to the call syntax from the first token."""
        return self.choice in (ToolChoice.REQUIRED, ToolChoice.FUNCTION)

    @property
    def callable_tools(self) -> tuple[ToolSpec, ...]:
        """The tools a call may name."""
        if self.choice is ToolChoice.FUNCTION:
            return tuple(tool for tool in self.tools if tool.name == self.function)
        return self.tools


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One call a model made: the function's name and its arguments as JSON text."""

    name: str
    arguments: str

    @staticmethod
    def from_object(name: str, arguments: Any) -> ToolCall:
        """A call whose arguments arrived as a parsed value (a dict), serialized compactly."""
        return ToolCall(name, json.dumps(arguments, ensure_ascii=False))
