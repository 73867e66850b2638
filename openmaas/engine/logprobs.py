"""Log-probabilities of sampled tokens, from the model's own distribution.

They are computed from the raw logits, before logit_bias, penalties,
temperature or truncation: what the model believes, not what the sampler
did with it (as vLLM's default and OpenAI report them).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from openmaas.engine.row_ops import top_by_threshold

MAX_TOP_LOGPROBS = 20


@dataclass(frozen=True, slots=True)
class TokenLogprob:
    token_id: int
    logprob: float
    # The most likely tokens at this position, best first, with their logprobs.
    top: tuple[tuple[int, float], ...]


def token_logprob(raw_row: np.ndarray, token: int, num_top: int) -> TokenLogprob:
    """The log-probability of token and the num_top best tokens under softmax(raw_row)."""
    best = float(raw_row.max())
    shifted = raw_row - best
    weights = np.exp(shifted)
    log_normalizer = float(np.log(weights.sum(dtype=np.float64)))
    top: tuple[tuple[int, float], ...] = ()
    if num_top > 0:
        ids = top_by_threshold(weights, count=num_top)[:num_top]
        top = tuple((int(i), float(shifted[i]) - log_normalizer) for i in ids)
    return TokenLogprob(token, float(shifted[token]) - log_normalizer, top)
