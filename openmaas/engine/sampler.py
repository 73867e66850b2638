"""Sampling from one row of logits, in a fixed, documented order.

Order: logit_bias, repetition penalty (multiplicative, over prompt and
output), frequency and presence penalties (additive, over the output), the
min_tokens ban on stop tokens, then greedy argmax or: temperature, top_k,
top_p, min_p, and one draw from the request's own seeded generator.

Each request draws exactly one uniform number per token from its own
generator, so a seeded request's draws do not depend on what else runs.
"""

from __future__ import annotations

import numpy as np

from openmaas.engine.request import Request

# Tokens whose logit is more than CUTOFF temperatures below the best one
# (relative probability < e^-30, about 1e-13) are never drawn: even all 262k
# of them together hold under 3e-8 of the mass. Dropping them first keeps the
# sort small instead of sorting the whole vocabulary every step.
CUTOFF = 30.0


def adjust_logits(row: np.ndarray, request: Request) -> np.ndarray:
    """Applies logit_bias, penalties and min_tokens; returns a (possibly new) row."""
    params = request.params
    needs_ban = request.num_output_tokens < params.min_tokens and bool(request.stop_token_ids)
    if not (params.logit_bias or params.has_penalties or needs_ban):
        return row
    row = row.copy()
    if params.logit_bias:
        ids = np.fromiter(params.logit_bias.keys(), dtype=np.int64)
        bias = np.fromiter(params.logit_bias.values(), dtype=np.float32)
        valid = (ids >= 0) & (ids < row.size)
        row[ids[valid]] += bias[valid]
    if params.repetition_penalty != 1.0:
        seen = np.unique(np.asarray(request.token_ids, dtype=np.int64))
        values = row[seen]
        row[seen] = np.where(
            values > 0, values / params.repetition_penalty, values * params.repetition_penalty
        )
    if (params.frequency_penalty or params.presence_penalty) and request.num_output_tokens:
        ids, counts = np.unique(np.asarray(request.output_token_ids, dtype=np.int64), return_counts=True)
        row[ids] -= counts * params.frequency_penalty + params.presence_penalty
    if needs_ban:
        row[list(request.stop_token_ids)] = -np.inf
    return row


def sample(row: np.ndarray, request: Request) -> int:
    """Picks the next token for request from its logits row."""
    params = request.params
    row = adjust_logits(row, request)
    if params.is_greedy:
        return int(np.argmax(row))
    top = float(row.max())
    candidates = np.flatnonzero(row >= top - CUTOFF * params.temperature)
    probs = np.exp((row[candidates].astype(np.float64) - top) / params.temperature)
    if 0 < params.top_k < candidates.size:
        keep = np.argpartition(-probs, params.top_k - 1)[: params.top_k]
        candidates, probs = candidates[keep], probs[keep]
    if params.top_p < 1.0:
        candidates, probs = _nucleus(candidates, probs, params.top_p)
    if params.min_p > 0.0:
        keep = probs >= params.min_p * probs.max()
        candidates, probs = candidates[keep], probs[keep]
    cumulative = np.cumsum(probs)
    index = int(np.searchsorted(cumulative, request.rng.random() * cumulative[-1], side="right"))
    return int(candidates[min(index, candidates.size - 1)])


def _nucleus(candidates: np.ndarray, probs: np.ndarray, top_p: float) -> tuple[np.ndarray, np.ndarray]:
    """The most probable candidates whose mass first reaches top_p, most probable first.

    Sorting every candidate would cost ~20 ms on a flat 262k distribution, so
    only the top k are sorted, with k growing until they hold top_p of the mass.
    """
    target = top_p * probs.sum()
    k = 64
    while True:
        if k >= probs.size:
            top = np.arange(probs.size)
        else:
            top = np.argpartition(-probs, k - 1)[:k]
        top = top[np.argsort(-probs[top], kind="stable")]
        cumulative = np.cumsum(probs[top])
        if cumulative[-1] >= target or top.size == probs.size:
            num_keep = min(int(np.searchsorted(cumulative, target)) + 1, top.size)
            chosen = top[:num_keep]
            return candidates[chosen], probs[chosen]
        k *= 4
