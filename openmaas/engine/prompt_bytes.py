"""PromptBytesCheck: refusing a prompt that cannot fit the context, from its length in bytes, before tokenizing it.

Tokenizing costs about a second per megabyte; a prompt of several megabytes that is
refused anyway (it has far more tokens than the context holds) should not cost that.
No token covers more text than the longest token's bytes, so a text longer than
``max_model_len`` times that many bytes has more than ``max_model_len`` tokens, whatever
the tokenizer does (special tokens parsed from text are among the tokens measured).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from openmaas.errors import ContextLengthExceeded


class PromptBytesCheck:
    """Measures the vocabulary's longest token in a background thread (~0.5 s on a 262k vocabulary:
    one C call per token, under the GIL between them), so loading a model does not wait for it; a
    check made before it is known waits for it (checks run in worker threads, beside tokenizing)."""

    def __init__(self, token_bytes: Callable[[int], bytes], n_vocab: int, max_model_len: int) -> None:
        self._token_bytes = token_bytes
        self._n_vocab = n_vocab
        self._max_model_len = max_model_len
        self._max_token_bytes: int | None = None
        self._is_closed = False
        self._measured = threading.Event()
        # Held while measuring: close() waits for it, since the model's vocabulary is freed after.
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._measure, name="openmaas-vocab-scan", daemon=True)
        self._thread.start()

    def _measure(self) -> None:
        # Set however it ends: a check never waits for a measurement that failed (it then refuses nothing).
        with self._lock:
            try:
                longest = 1
                for token in range(self._n_vocab):
                    if self._is_closed:
                        return
                    longest = max(longest, len(self._token_bytes(token)))
                self._max_token_bytes = longest
            finally:
                self._measured.set()

    @property
    def max_bytes(self) -> int | None:
        """The longest text, in UTF-8 bytes, that might still fit the context; None while unmeasured."""
        longest = self._max_token_bytes
        return None if longest is None else self._max_model_len * longest

    def check(self, text: str, *, param: str) -> None:
        """Raises ContextLengthExceeded if text cannot fit the context, judging by its bytes alone.
        Blocks until the vocabulary is measured: call it off the event loop."""
        self._measured.wait()
        max_bytes = self.max_bytes
        # A character is 1 to 4 bytes: only a text that might be too long is encoded to count them.
        if max_bytes is None or len(text) * 4 <= max_bytes:
            return
        num_bytes = len(text.encode("utf-8", errors="surrogatepass"))
        if num_bytes > max_bytes:
            raise ContextLengthExceeded(
                f"this prompt is {num_bytes} bytes long, more than a context of {self._max_model_len} tokens "
                f"can hold (at most {max_bytes} bytes); shorten it",
                param=param,
            )

    def close(self) -> None:
        self._is_closed = True
        with self._lock:
            pass
        self._measured.set()  # a check still waiting goes on unchecked (the model is closing)
