"""Keep-alive durations as Ollama spells them: seconds, or a Go duration string ("5m", "1h30m", "-1").

A keep-alive is how long a model stays loaded after its last request ends:
0 unloads it right away, a negative value keeps it loaded until evicted or the
server stops (``FOREVER``). Plain data only: used by the fleet, the catalog and
the deployments alike.
"""

from __future__ import annotations

import math
import re

from openmaas.errors import InvalidRequest

FOREVER = math.inf
DEFAULT_KEEP_ALIVE = 300.0

_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_NUMBER = re.compile(r"^[+-]?(\d+(?:\.\d*)?|\.\d+)$")


def parse_keep_alive(value: float | int | str | None, *, param: str = "keep_alive") -> float | None:
    """Seconds (FOREVER for a negative value); None when value is None. InvalidRequest naming param otherwise."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise InvalidRequest(f"{param} must be a number of seconds or a duration such as '5m'", param=param)
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        seconds = _parse_duration(value.strip(), param)
    if math.isnan(seconds):
        raise InvalidRequest(f"{param} must be a number of seconds or a duration such as '5m'", param=param)
    return FOREVER if seconds < 0 else seconds


def _parse_duration(text: str, param: str) -> float:
    if _NUMBER.match(text):  # Ollama takes a bare number in a string as seconds
        return float(text)
    sign = -1.0 if text.startswith("-") else 1.0
    body = text.lstrip("+-")
    if not body:
        raise InvalidRequest(f"{param}: '{text}' is not a duration (e.g. '30s', '5m', '1h', '-1')", param=param)
    position = 0
    total = 0.0
    for match in _PART.finditer(body):
        if match.start() != position:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        position = match.end()
    if position != len(body):
        raise InvalidRequest(f"{param}: '{text}' is not a duration (e.g. '30s', '5m', '1h', '-1')", param=param)
    return sign * total


def format_keep_alive(seconds: float) -> str | float:
    """A keep-alive for JSON: seconds, or "forever" (JSON has no infinity)."""
    return "forever" if math.isinf(seconds) else seconds
