"""Sampling the next token of every request in a step, in one fixed, documented order.

Order, the same for every request:

1. logit adjustments: ``logit_bias``; the repetition penalty (multiplicative,
   over prompt and output); frequency and presence penalties (additive, over
   the output); the ban on stop tokens before ``min_tokens``; the grammar mask
   of structured output (applied first in code: it only ever sets -inf, which
   the other adjustments leave at -inf, so the result is the same);
2. greedy requests (temperature 0, or top_k 1) take the argmax;
3. the others: temperature, then the truncations ``top_k``, ``top_p``,
   ``typical_p``, ``min_p``, ``top_a`` (each over what the previous ones
   kept), then one draw by inverse CDF with one uniform number from the
   request's own seeded generator.

The vocabulary is 262k wide, so whole-row passes dominate the cost: the
max, the exponentials and the block sums run as single numpy calls over the
batch's matrix, and no step ever sorts a whole row (truncations sort only
the candidates above a threshold that widens until enough mass is inside).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from openmaas.engine.logprobs import TokenLogprob, token_logprob
from openmaas.engine.request import Request
from openmaas.engine.row_ops import top_by_threshold
from openmaas.engine.structured import mask_logits

# Inverse-CDF draws find the block first, then the token inside it, so no
# step takes a cumulative sum over the whole vocabulary.
DRAW_BLOCK = 512


_POOL: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="openmaas-sampler")
    return _POOL


@dataclass(frozen=True, slots=True)
class Sampled:
    token_id: int
    logprob: TokenLogprob | None


def adjust_logits(row: np.ndarray, request: Request) -> np.ndarray:
    """Applies step 1 of the order; returns row itself when nothing changes, else a copy."""
    params = request.params
    needs_ban = request.num_output_tokens < params.min_tokens and bool(request.stop_token_ids)
    constraint = request.constraint
    if not (params.logit_bias or params.has_penalties or needs_ban or constraint is not None):
        return row
    # The grammar mask, applied first because it yields the one copy everything else then edits in place.
    row = row.copy() if constraint is None else mask_logits(row, constraint.fill_mask())
    if params.logit_bias:
        ids = np.fromiter(params.logit_bias.keys(), dtype=np.int64)
        bias = np.fromiter(params.logit_bias.values(), dtype=np.float32)
        valid = (ids >= 0) & (ids < row.size)
        row[ids[valid]] += bias[valid]
    if params.repetition_penalty != 1.0:
        seen = np.unique(np.asarray(request.token_ids, dtype=np.int64))
        values = row[seen]
        row[seen] = np.where(values > 0, values / params.repetition_penalty, values * params.repetition_penalty)
    if (params.frequency_penalty or params.presence_penalty) and request.num_output_tokens:
        ids, counts = np.unique(np.asarray(request.output_token_ids, dtype=np.int64), return_counts=True)
        row[ids] -= counts * params.frequency_penalty + params.presence_penalty
    if needs_ban:
        row[list(request.stop_token_ids)] = -np.inf
    return row


def sample_batch(batch: list[tuple[Request, np.ndarray]]) -> list[Sampled]:
    """Picks the next token of each (request, raw logits row) pair."""

    def sample_row(pair: tuple[Request, np.ndarray]) -> Sampled:
        request, raw = pair
        row = adjust_logits(raw, request)  # grammar masks too: computed here, beside the other rows
        if request.params.is_greedy:
            return _with_logprob(request, raw, int(np.argmax(row)))
        if row is raw and request.params.logprobs is not None:
            row = raw.copy()  # logprobs are read from the raw row after the draw
        # In place (the row is a copy, or llama.cpp's buffer that the next decode overwrites):
        # weights with the best token at 1.
        row -= row.max()
        if request.params.temperature != 1.0:
            row *= np.float32(1.0 / request.params.temperature)
        np.exp(row, out=row)
        return _with_logprob(request, raw, _draw(row, request))

    if len(batch) > 1 and any(_costly(request) for request, _ in batch):
        # numpy releases the GIL on whole-row passes, llguidance while it computes a mask, and
        # llama.cpp is idle between decodes: rows are independent (each has its own generator and
        # grammar), so they run on every core.
        return list(_pool().map(sample_row, batch))
    return [sample_row(pair) for pair in batch]


def _costly(request: Request) -> bool:
    """Rows that do more than an argmax are worth a thread."""
    return not request.params.is_greedy or request.constraint is not None or request.params.logprobs is not None


def _with_logprob(request: Request, raw_row: np.ndarray, token: int) -> Sampled:
    num_top = request.params.logprobs
    return Sampled(token, None if num_top is None else token_logprob(raw_row, token, num_top))


def _draw(weights: np.ndarray, request: Request) -> int:
    """Truncates (step 3) and draws one token from one row of weights (best token at 1)."""
    params = request.params
    candidates: np.ndarray | None = None  # None: the whole vocabulary, in token order
    if 0 < params.top_k < weights.size:
        candidates = top_by_threshold(weights, count=params.top_k)[: params.top_k]
    if params.top_p < 1.0:
        candidates = _nucleus(weights, candidates, params.top_p)
    if params.typical_p < 1.0:
        candidates = _typical(weights, candidates, params.typical_p)
    if params.min_p > 0.0:
        # p >= min_p * p_max, and the best token has weight 1.
        candidates = _keep(candidates, weights, weights >= params.min_p)
    if params.top_a > 0.0:
        kept = weights if candidates is None else weights[candidates]
        mass = float(kept.sum(dtype=np.float64))
        # p >= top_a * p_max^2 with p = w / mass and p_max = 1 / mass.
        candidates = _keep(candidates, weights, weights >= params.top_a / mass)
    u = request.rng.random()
    if candidates is None:
        return _draw_whole_vocabulary(weights, u)
    cumulative = np.cumsum(weights[candidates], dtype=np.float64)
    index = int(np.searchsorted(cumulative, u * cumulative[-1], side="right"))
    return int(candidates[min(index, candidates.size - 1)])


def _draw_whole_vocabulary(weights: np.ndarray, u: float) -> int:
    """Inverse-CDF draw over every token, in token order, via block sums."""
    starts = np.arange(0, weights.size, DRAW_BLOCK)
    block_sums = np.cumsum(np.add.reduceat(weights, starts, dtype=np.float64))
    target = u * block_sums[-1]
    block = min(int(np.searchsorted(block_sums, target, side="right")), starts.size - 1)
    before = block_sums[block - 1] if block else 0.0
    inner = np.cumsum(weights[starts[block] : starts[block] + DRAW_BLOCK], dtype=np.float64)
    offset = min(int(np.searchsorted(inner, target - before, side="right")), inner.size - 1)
    return int(starts[block] + offset)


def _nucleus(weights: np.ndarray, candidates: np.ndarray | None, top_p: float) -> np.ndarray:
    """The best tokens whose probability first reaches top_p (at least one).

    Over the whole vocabulary no sort is needed: every token below
    (1 - top_p) * mass / vocabulary is outside the nucleus, so one pass finds
    the candidates; their band is then split at geometric midpoints (keeping
    the upper part whole while it holds too little) until it is small enough
    to sort for the exact cut.
    The result is in no particular order; draws use it as given.
    """
    if candidates is not None:
        target = top_p * float(weights[candidates].sum(dtype=np.float64))
        cumulative = np.cumsum(weights[candidates], dtype=np.float64)
        return candidates[: int(np.searchsorted(cumulative, target)) + 1]
    total = float(weights.sum(dtype=np.float64))
    target = top_p * total
    kept: list[np.ndarray] = []
    kept_mass = 0.0
    # Tokens below lower hold at most vocab * lower = (1 - top_p) of the mass, so the nucleus lies
    # above it: one pass over the vocabulary finds every candidate.
    upper, lower = 2.0, (1.0 - top_p) * total / weights.size
    band = np.flatnonzero(weights >= lower)
    # 60 halvings of a ratio of at most 2 * vocab / (1 - top_p) end any run; ties could otherwise loop.
    for _ in range(60):
        if band.size <= 256:
            break
        middle = float(np.sqrt(upper * lower))
        band_weights = weights[band]
        top = band[band_weights >= middle]
        top_mass = float(weights[top].sum(dtype=np.float64))
        if kept_mass + top_mass < target:
            kept.append(top)
            kept_mass += top_mass
            band, upper = band[band_weights < middle], middle
        else:
            band, lower = top, middle
    band = band[np.argsort(-weights[band], kind="stable")]
    cumulative = kept_mass + np.cumsum(weights[band], dtype=np.float64)
    cut = min(int(np.searchsorted(cumulative, target)) + 1, band.size)
    return np.concatenate([*kept, band[:cut]])


def _typical(weights: np.ndarray, candidates: np.ndarray | None, typical_p: float) -> np.ndarray:
    """Locally typical sampling: tokens closest to the entropy, until typical_p of the mass."""
    ids = np.arange(weights.size) if candidates is None else candidates
    w = weights[ids].astype(np.float64)
    total = w.sum()
    with np.errstate(divide="ignore"):
        log_p = np.log(w) - np.log(total)
    entropy = -float(np.sum(np.where(w > 0, w / total * log_p, 0.0)))
    order = np.argsort(np.abs(-log_p - entropy), kind="stable")
    cumulative = np.cumsum(w[order]) / total
    keep = order[: int(np.searchsorted(cumulative, typical_p)) + 1]
    return ids[np.sort(keep)]


def _keep(candidates: np.ndarray | None, weights: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The candidates (or all tokens) where mask holds; the best token always stays."""
    ids = np.flatnonzero(mask) if candidates is None else candidates[mask[candidates]]
    if ids.size == 0:
        ids = np.array([int(np.argmax(weights))])
    return ids
