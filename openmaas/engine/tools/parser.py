"""Reads tool calls back out of a model's text, in the model family's format.

One left-to-right scan serves both a finished message and a stream. It finds
the next place a call could start (the family's marker, or for the JSON
formats any ``{``), reads the construct there and decides: a complete call,
not a call (the text stays content), or, at the end of text still arriving,
undecided. Each decision depends only on the text up to the end of its
construct, so what a stream has decided never changes when more text comes,
and a stream's decisions equal those on the finished text.

Arguments are the model's own text of the arguments object (not re-serialized),
so a streamed call's argument pieces add up to exactly the finished call's.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from json.decoder import scanstring  # type: ignore[attr-defined]

from openmaas.engine.tools.formats import ToolFormat
from openmaas.engine.tools.spec import ToolCall

_ARG_KEYS = ("arguments", "parameters")
_WHITESPACE = re.compile(r"\s*")
# The head of a call object written name first, up to its arguments' value.
_NAME_FIRST = re.compile(r'\{\s*"name"\s*:\s*("(?:[^"\\]|\\.)*")\s*,\s*"(?:arguments|parameters)"\s*:\s*')
# Mistral's newer layout (Magistral, Mistral Small 3.2): [TOOL_CALLS]name[ARGS]{...}
_MISTRAL_NAMED = re.compile(r"([A-Za-z0-9_.-]+)\[ARGS\]")
_MISTRAL_MARKER = "[TOOL_CALLS]"


@dataclass(frozen=True, slots=True)
class PendingCall:
    """A call still being written: its name once known, and the arguments' text so far."""

    name: str | None
    arguments: str


@dataclass(slots=True)
class ScanResult:
    """What a scan decided: content and calls in text order, and how far that is final."""

    # ("content", text) or ("call", ToolCall), in order.
    items: list[tuple[str, str | ToolCall]] = field(default_factory=list)
    # The index of the text up to which every decision is final (a stream resumes there).
    settled_end: int = 0
    # Streams only: calls complete in a construct that is not (the closing tag, the rest of a
    # list), and a call still being written at the end of the text.
    provisional: list[ToolCall] = field(default_factory=list)
    pending: PendingCall | None = None

    def content(self) -> str:
        return "".join(item for kind, item in self.items if kind == "content" and isinstance(item, str))

    def calls(self) -> list[ToolCall]:
        return [item for kind, item in self.items if kind == "call" and isinstance(item, ToolCall)]


@dataclass(frozen=True, slots=True)
class ParsedMessage:
    """A finished message: its text outside calls (None when only whitespace) and its calls."""

    content: str | None
    calls: list[ToolCall]


def parse_tool_calls(text: str, fmt: ToolFormat) -> ParsedMessage:
    """The calls in a finished message and the text around them."""
    result = scan(text, fmt, is_final=True)
    content = result.content().strip()
    return ParsedMessage(content or None, result.calls())


class _Undecided(Exception):
    """The construct runs past the end of the text that has arrived."""

    def __init__(self, pending: PendingCall | None, calls: list[ToolCall] | None = None) -> None:
        self.pending = pending
        self.calls = calls or []


def scan(text: str, fmt: ToolFormat, *, is_final: bool) -> ScanResult:
    """Content and calls of text; with is_final false, text may still grow (a stream)."""
    result = ScanResult()
    markers = _markers(fmt)
    pos = 0
    while True:
        start = _next_candidate(text, pos, fmt, markers)
        if start is None:
            held = 0 if is_final else _held_marker_prefix(text, pos, markers)
            _add_content(result, text[pos : len(text) - held])
            result.settled_end = len(text) - held
            return result
        _add_content(result, text[pos:start])
        try:
            calls, end = _read_construct(text, start, fmt, is_final)
        except _Undecided as undecided:
            result.settled_end = start
            result.pending = undecided.pending
            result.provisional = undecided.calls
            return result
        if calls is None:
            # Not a call: its first character is content and the scan goes on after it,
            # so a call nested inside (or right after) is still found.
            step = len(markers[0]) if markers and text.startswith(markers[0], start) else 1
            _add_content(result, text[start : start + step])
            pos = start + step
            continue
        result.items.extend(("call", call) for call in calls)
        pos = end
        result.settled_end = end


def _add_content(result: ScanResult, text: str) -> None:
    if text:
        result.items.append(("content", text))


def _markers(fmt: ToolFormat) -> list[str]:
    """The strings that open a call block in this format; none for the bare-JSON formats."""
    if fmt.list_prefix.startswith(_MISTRAL_MARKER):
        return [_MISTRAL_MARKER]
    if fmt.call_prefix.strip():
        return [fmt.call_prefix.strip()]
    return []


def _next_candidate(text: str, pos: int, fmt: ToolFormat, markers: list[str]) -> int | None:
    found = [i for i in (text.find(marker, pos) for marker in markers) if i >= 0]
    if not markers:
        brace = text.find("{", pos)
        if brace >= 0:
            found.append(brace)
    return min(found) if found else None


def _held_marker_prefix(text: str, pos: int, markers: list[str]) -> int:
    """How many trailing characters could be the start of a marker (held back from a stream)."""
    longest = 0
    for marker in markers:
        for size in range(1, len(marker)):
            if size <= len(text) - pos and text.endswith(marker[:size]):
                longest = max(longest, size)
    return longest


def _read_construct(text: str, start: int, fmt: ToolFormat, is_final: bool) -> tuple[list[ToolCall] | None, int]:
    """The calls of the construct at start and where it ends; None when it is not a call."""
    markers = _markers(fmt)
    if not markers:
        call, end = _read_call_object(text, start, is_final)
        return (None, end) if call is None else ([call], end)
    marker = markers[0]
    pos = _skip_ws(text, start + len(marker))
    if marker == _MISTRAL_MARKER:
        return _read_mistral(text, pos, is_final)
    call, end = _read_call_object(text, pos, is_final, at_end_of_text_is_undecided=True)
    if call is None:
        return None, end
    closer = fmt.call_suffix.strip()
    after = _skip_ws(text, end)
    if text.startswith(closer, after):
        return [call], after + len(closer)
    if not is_final and closer.startswith(text[after:]):
        # The closing tag may still be arriving.
        raise _Undecided(None, [call])
    return [call], end


def _read_mistral(text: str, pos: int, is_final: bool) -> tuple[list[ToolCall] | None, int]:
    named = _MISTRAL_NAMED.match(text, pos)
    if named is not None:
        args_start = named.end()
        args_end = _matching_close(text, args_start) if text.startswith("{", args_start) else None
        if args_end is None:
            if not is_final and _could_continue(text, args_start):
                raise _Undecided(PendingCall(named.group(1), text[args_start:]))
            return None, pos
        return [ToolCall(named.group(1), text[args_start:args_end])], args_end
    if pos >= len(text) or (not is_final and _MISTRAL_NAMED_PREFIX.fullmatch(text, pos)):
        if is_final:
            return None, pos
        raise _Undecided(None)
    if text[pos] != "[":
        return None, pos
    calls: list[ToolCall] = []
    item = _skip_ws(text, pos + 1)
    while True:
        if item >= len(text):
            break
        try:
            call, end = _read_call_object(text, item, is_final)
        except _Undecided as undecided:
            raise _Undecided(undecided.pending, calls) from None
        if call is None:
            return None, pos
        calls.append(call)
        after = _skip_ws(text, end)
        if text.startswith("]", after):
            return calls, after + 1
        if not text.startswith(",", after):
            if after >= len(text):
                break
            return None, pos
        item = _skip_ws(text, after + 1)
    if is_final:
        return None, pos
    raise _Undecided(None, calls)


_MISTRAL_NAMED_PREFIX = re.compile(r"[A-Za-z0-9_.-]+(?:\[(?:A(?:R(?:G(?:S)?)?)?)?)?")


def _read_call_object(
    text: str,
    start: int,
    is_final: bool,
    *,
    at_end_of_text_is_undecided: bool = False,
) -> tuple[ToolCall | None, int]:
    """A call object {"name": ..., "arguments": {...}} at start; (None, start) when there is none."""
    if start >= len(text):
        if not is_final and at_end_of_text_is_undecided:
            raise _Undecided(None)
        return None, start
    if text[start] != "{":
        return None, start
    end = _matching_close(text, start)
    if end is None:
        if is_final:
            return None, start
        raise _Undecided(_pending(text, start))
    return _call_from_object(text, start, end), end


def _pending(text: str, start: int) -> PendingCall | None:
    """The call being written from start, if its head is already recognisable as one."""
    head = _NAME_FIRST.match(text, start)
    if head is None:
        return None
    name = json.loads(head.group(1))
    if not isinstance(name, str):
        return None
    args_start = head.end()
    if not text.startswith("{", args_start):
        return PendingCall(name, "")
    args_end = _matching_close(text, args_start)
    return PendingCall(name, text[args_start : args_end if args_end is not None else len(text)])


def _call_from_object(text: str, start: int, end: int) -> ToolCall | None:
    spans = _object_spans(text[start:end])
    if spans is None:
        return None
    name = spans.get("name")
    if name is None or not isinstance(name[2], str):
        return None
    for key in _ARG_KEYS:
        if key in spans:
            value_start, value_end, value = spans[key]
            if isinstance(value, dict):
                return ToolCall(name[2], text[start + value_start : start + value_end])
            if isinstance(value, str):
                # Some models write the arguments as a JSON string holding the object.
                try:
                    inner = json.loads(value)
                except ValueError:
                    return None
                return ToolCall(name[2], value) if isinstance(inner, dict) else None
            return None
    return None


_DECODER = json.JSONDecoder()


def _object_spans(text: str) -> dict[str, tuple[int, int, object]] | None:
    """Each top-level key of the JSON object text with its value's span and value; None if not one."""
    spans: dict[str, tuple[int, int, object]] = {}
    pos = _skip_ws(text, 1)
    if text.startswith("}", pos):
        return spans if _skip_ws(text, pos + 1) == len(text) else None
    try:
        while True:
            if not text.startswith('"', pos):
                return None
            key, pos = scanstring(text, pos + 1)
            pos = _skip_ws(text, pos)
            if not text.startswith(":", pos):
                return None
            pos = _skip_ws(text, pos + 1)
            value, end = _DECODER.raw_decode(text, pos)
            spans[key] = (pos, end, value)
            pos = _skip_ws(text, end)
            if text.startswith(",", pos):
                pos = _skip_ws(text, pos + 1)
                continue
            if text.startswith("}", pos) and pos + 1 == len(text):
                return spans
            return None
    except ValueError:
        return None


def _matching_close(text: str, start: int) -> int | None:
    """The index just past the bracket closing the one at start (JSON strings respected); None if open."""
    depth = 0
    in_string = False
    escaped = False
    for index in range(start, len(text)):
        char = text[index]
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "{[":
            depth += 1
        elif char in "}]":
            depth -= 1
            if depth == 0:
                return index + 1
    return None


def _could_continue(text: str, pos: int) -> bool:
    return pos >= len(text) or text.startswith("{", pos)


def _skip_ws(text: str, pos: int) -> int:
    match = _WHITESPACE.match(text, pos)
    return match.end() if match else pos
