"""Beam search with Hugging Face's semantics, over forked sequences sharing KV.

A beam-search request owns ``2 * num_beams`` prompt slots: the live beams in
one half and, each step, their successors copied into the other half (a
whole-sequence copy of the parent's KV), so a parent kept by two children is
never overwritten while it is still being read. The prompt is prefilled once
and copied to every beam.

Scoring follows ``transformers``' ``BeamSearchScorer``: each step keeps the
``2 * num_beams`` best (beam, token) continuations by summed log-probability;
an end-of-sequence continuation ranked among the first ``num_beams`` becomes a
finished hypothesis scored ``sum_logprobs / generated_len ** length_penalty``
(``generated_len`` counting the tokens before the end token); the others fill
the next beams. The search ends when ``num_beams`` hypotheses are finished and
either ``early_stopping`` is true or no live beam can still beat the worst of
them (``early_stopping`` false: judged at the current length; "never": at the
longest possible length), or when ``max_tokens`` is reached, where live
beams are scored as hypotheses too. The best hypothesis is the answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from openmaas.engine.request import Request

EarlyStopping = bool | str  # True, False or "never"


@dataclass(frozen=True, slots=True)
class BeamSettings:
    num_beams: int
    length_penalty: float = 1.0
    early_stopping: EarlyStopping = False


@dataclass(slots=True)
class Beam:
    token_ids: list[int]  # generated tokens only
    score: float  # sum of log-probabilities


@dataclass(slots=True)
class Hypotheses:
    """The best finished hypotheses, at most num_beams of them."""

    num_beams: int
    length_penalty: float
    items: list[tuple[float, list[int]]] = field(default_factory=list)

    def add(self, token_ids: list[int], sum_logprobs: float, generated_len: int) -> None:
        score = sum_logprobs / (max(generated_len, 1) ** self.length_penalty)
        if len(self.items) < self.num_beams or score > self.worst:
            self.items.append((score, token_ids))
            self.items.sort(key=lambda item: item[0], reverse=True)
            del self.items[self.num_beams :]

    @property
    def worst(self) -> float:
        return self.items[-1][0] if self.items else -np.inf

    def is_done(self, best_sum_logprobs: float, current_len: int, max_len: int, early: EarlyStopping) -> bool:
        if len(self.items) < self.num_beams:
            return False
        if early is True:
            return True
        length = max_len if early == "never" and self.length_penalty > 0 else current_len
        return bool(self.worst >= best_sum_logprobs / (max(length, 1) ** self.length_penalty))

    def best(self) -> list[int]:
        return self.items[0][1] if self.items else []


def log_softmax(row: np.ndarray) -> np.ndarray:
    shifted: np.ndarray = row.astype(np.float64) - float(row.max())
    result: np.ndarray = shifted - np.log(np.exp(shifted).sum())
    return result


class BeamSearch:
    """The bookkeeping of one beam search: choose successors from each step's logits."""

    def __init__(self, request: Request, settings: BeamSettings) -> None:
        self.request = request
        self.settings = settings
        self.beams: list[Beam] = [Beam([], 0.0)]  # one beam until the first step fans out
        self.hypotheses = Hypotheses(settings.num_beams, settings.length_penalty)
        self.finished = False

    def advance(self, logits: np.ndarray) -> list[int]:
        """Takes one logits row per live beam; returns each new beam's parent index.

        After the call, ``self.beams`` holds the successors (parents[i] is the
        beam whose KV beam i continues) unless the search finished.
        """
        num_beams = self.settings.num_beams
        stop_ids = self.request.stop_token_ids
        vocab = logits.shape[1]
        scores = np.stack([log_softmax(row) + beam.score for row, beam in zip(logits, self.beams, strict=True)])
        flat = scores.ravel()
        num_candidates = min(2 * num_beams, flat.size)
        top = np.argpartition(-flat, num_candidates - 1)[:num_candidates]
        top = top[np.lexsort((top, -flat[top]))]  # best first, ties by index: reproducible
        successors: list[Beam] = []
        parents: list[int] = []
        for rank, flat_index in enumerate(top):
            parent, token = divmod(int(flat_index), vocab)
            score = float(flat[flat_index])
            beam = self.beams[parent]
            if token in stop_ids:
                if rank < num_beams:
                    self.hypotheses.add(list(beam.token_ids), score, len(beam.token_ids))
                continue
            successors.append(Beam([*beam.token_ids, token], score))
            parents.append(parent)
            if len(successors) == num_beams:
                break
        current_len = len(self.beams[0].token_ids) + 1
        best_live = max((b.score for b in successors), default=-np.inf)
        done = self.hypotheses.is_done(best_live, current_len, self.request.max_tokens, self.settings.early_stopping)
        if done or current_len >= self.request.max_tokens or not successors:
            for beam in successors:
                self.hypotheses.add(beam.token_ids, beam.score, len(beam.token_ids))
            self.finished = True
        self.beams = successors
        return parents
