"""Incremental, UTF-8-safe detokenization and stop-string matching."""

from __future__ import annotations

import codecs


class IncrementalDetokenizer:
    """Turns token pieces (bytes) into text deltas that are safe to stream.

    A piece may end inside a multi-byte UTF-8 character (emoji and Thai are
    split across byte-level tokens), so bytes go through an incremental
    decoder. Text that could still become the start of a stop string is held
    back, so a stop string is never streamed, even when it spans two tokens.
    """

    def __init__(self, stop: tuple[str, ...] = ()) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._stop = stop
        self._max_stop_len = max((len(s) for s in stop), default=0)
        self.text = ""
        self._num_emitted = 0

    def push(self, piece: bytes) -> tuple[str, str | None]:
        """Adds one token's bytes; returns (text safe to emit now, stop string matched or None)."""
        new_text = self._decoder.decode(piece)
        if not new_text:
            return "", None
        # A stop string found now must end inside the new text.
        search_from = max(0, len(self.text) - self._max_stop_len + 1)
        self.text += new_text
        if self._stop:
            hit = self._find_stop(search_from)
            if hit is not None:
                index, stop = hit
                self.text = self.text[:index]
                return self._emit(len(self.text)), stop
        return self._emit(len(self.text) - self._held_back()), None

    def finish(self) -> str:
        """Flushes everything held back, at the end of a request not ended by a stop string."""
        self.text += self._decoder.decode(b"", final=True)
        return self._emit(len(self.text))

    def _emit(self, end: int) -> str:
        if end <= self._num_emitted:
            return ""
        delta = self.text[self._num_emitted : end]
        self._num_emitted = end
        return delta

    def _find_stop(self, search_from: int) -> tuple[int, str] | None:
        best: tuple[int, str] | None = None
        for stop in self._stop:
            index = self.text.find(stop, search_from)
            if index != -1 and (best is None or index < best[0]):
                best = (index, stop)
        return best

    def _held_back(self) -> int:
        """Length of the longest suffix of the text that a stop string starts with."""
        for length in range(min(self._max_stop_len - 1, len(self.text)), 0, -1):
            suffix = self.text[-length:]
            if any(stop.startswith(suffix) for stop in self._stop):
                return length
        return 0
