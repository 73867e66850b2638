"""Beam search against a straightforward reference beam search over llama-cpp-python's high-level API."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
from llama_cpp import Llama

from openmaas.engine import EngineClient, FinishReason, SamplingParams
from openmaas.errors import InvalidRequest
from tests.engine.helpers import generate

END_OF_GENERATION = {1, 106}  # <eos>, <end_of_turn>


def reference_beam_search(
    llm: Llama, prompt: list[int], num_beams: int, max_new_tokens: int, length_penalty: float
) -> list[int]:
    """Hugging Face's beam search, written plainly: every beam's sequence is evaluated from scratch."""

    def next_logprobs(tokens: list[int]) -> np.ndarray:
        llm.reset()
        llm.eval(tokens)
        logits = np.array(llm.scores[llm.n_tokens - 1], dtype=np.float64)
        shifted = logits - logits.max()
        return shifted - np.log(np.exp(shifted).sum())

    def score(sum_logprobs: float, length: int) -> float:
        return sum_logprobs / (max(length, 1) ** length_penalty)

    beams: list[tuple[list[int], float]] = [([], 0.0)]
    finished: list[tuple[float, list[int]]] = []
    for step in range(max_new_tokens):
        candidates = []
        for index, (tokens, total) in enumerate(beams):
            logprobs = next_logprobs(prompt + tokens)
            for token in np.argsort(-logprobs, kind="stable")[: 2 * num_beams]:
                candidates.append((total + float(logprobs[token]), index, int(token)))
        candidates.sort(key=lambda c: (-c[0], c[1], c[2]))
        successors: list[tuple[list[int], float]] = []
        for rank, (total, index, token) in enumerate(candidates[: 2 * num_beams]):
            if token in END_OF_GENERATION:
                if rank < num_beams:
                    finished.append((score(total, len(beams[index][0])), beams[index][0]))
                continue
            successors.append((beams[index][0] + [token], total))
            if len(successors) == num_beams:
                break
        finished = sorted(finished, key=lambda f: f[0], reverse=True)[:num_beams]
        beams = successors
        best_live = max(total for _, total in beams)
        done = len(finished) == num_beams and finished[-1][0] >= score(best_live, step + 1)
        if done or step + 1 == max_new_tokens:
            finished.extend((score(total, len(tokens)), tokens) for tokens, total in beams)
            break
    return max(finished, key=lambda f: f[0])[1]


@pytest.mark.parametrize("prompt", ["The best way to learn a language is", "def add(a, b):\n"])
def test_beam_search_matches_the_reference(engine: EngineClient, model_path: Path, prompt: str) -> None:
    llm = Llama(model_path=str(model_path), n_ctx=256, n_batch=256, flash_attn=True, logits_all=True, verbose=False)
    try:
        tokens = engine.tokenize(prompt)
        expected = reference_beam_search(llm, tokens, num_beams=4, max_new_tokens=8, length_penalty=1.0)
    finally:
        llm.close()
    params = SamplingParams(temperature=0.0, max_tokens=8, num_beams=4, length_penalty=1.0)
    result = asyncio.run(generate(engine, tokens, params))
    assert result.token_ids == expected
    assert result.text == engine.decode_tokens(expected)
    expected_reason = FinishReason.LENGTH if len(expected) == 8 else FinishReason.STOP
    assert result.last.finish_reason is expected_reason


def test_more_beams_than_the_cache_slots_allow_are_refused(engine: EngineClient) -> None:
    with pytest.raises(InvalidRequest) as error:
        engine.validate(engine.tokenize("Hi"), SamplingParams(num_beams=9, temperature=0.0))
    assert error.value.param == "num_beams"


def test_beam_search_parameters_are_validated() -> None:
    with pytest.raises(InvalidRequest):
        SamplingParams(num_beams=0)
    with pytest.raises(InvalidRequest):
        SamplingParams(num_beams=2, early_stopping="sometimes")
