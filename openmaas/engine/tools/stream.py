"""Tool calls out of a stream of text: content deltas and OpenAI-style call deltas as text arrives.

The scan in ``parser.py`` is re-run over the text not yet settled each time
text arrives; what it settles is never revisited. A call's first delta
carries its name (with whatever arguments are known), later ones carry the
arguments in pieces; content is sent once a call can no longer start in it,
with surrounding whitespace trimmed exactly as a finished message's is.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from openmaas.engine.tools.formats import ToolFormat
from openmaas.engine.tools.parser import scan
from openmaas.engine.tools.spec import ToolCall


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    """A piece of call ``index``: its name in the first piece (None after), then arguments text."""

    index: int
    name: str | None
    arguments: str


@dataclass(frozen=True, slots=True)
class StreamDelta:
    content: str = ""
    calls: list[ToolCallDelta] = field(default_factory=list)


class ToolCallStream:
    """Turns the text of one streamed message into content and call deltas."""

    def __init__(self, fmt: ToolFormat) -> None:
        self._fmt = fmt
        self._text = ""
        # Everything before _settled is decided: its content is in _content, its calls in _calls.
        self._settled = 0
        self._content = ""
        self._calls: list[ToolCall] = []
        self._sent_content = ""
        # Per call index: the arguments text sent so far (absent: not started).
        self._sent_arguments: dict[int, str] = {}

    @property
    def num_calls(self) -> int:
        """Calls started so far."""
        return len(self._sent_arguments)

    def push(self, text: str) -> StreamDelta:
        self._text += text
        return self._advance(is_final=False)

    def finish(self) -> StreamDelta:
        """Decides whatever is still undecided (the text has ended)."""
        return self._advance(is_final=True)

    def _advance(self, *, is_final: bool) -> StreamDelta:
        result = scan(self._text[self._settled :], self._fmt, is_final=is_final)
        self._content += result.content()
        self._calls.extend(result.calls())
        self._settled += result.settled_end
        visible: list[tuple[str | None, str]] = [(c.name, c.arguments) for c in self._calls]
        visible += [(c.name, c.arguments) for c in result.provisional]
        if result.pending is not None:
            visible.append((result.pending.name, result.pending.arguments))
        deltas: list[ToolCallDelta] = []
        for index, (name, arguments) in enumerate(visible):
            if name is None:
                continue
            sent = self._sent_arguments.get(index)
            if sent is None:
                self._sent_arguments[index] = arguments
                deltas.append(ToolCallDelta(index, name, arguments))
            elif len(arguments) > len(sent) and arguments.startswith(sent):
                self._sent_arguments[index] = arguments
                deltas.append(ToolCallDelta(index, None, arguments[len(sent) :]))
        return StreamDelta(self._content_delta(is_final), deltas)

    def _content_delta(self, is_final: bool) -> str:
        # Leading whitespace never shows; trailing whitespace waits for what follows it.
        content = self._content.lstrip().rstrip()
        if not content.startswith(self._sent_content):
            return ""
        delta = content[len(self._sent_content) :]
        self._sent_content = content
        return delta
