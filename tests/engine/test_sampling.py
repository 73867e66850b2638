"""Sampling on the real model: seeds under batching with mixed parameters, logprobs parity."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

from llama_cpp import Llama

from openmaas.engine import EngineClient, SamplingParams
from tests.engine.helpers import generate

MIXED: list[dict[str, float | int]] = [
    {"temperature": 1.0},
    {"temperature": 0.7, "top_p": 0.9},
    {"temperature": 1.3, "top_k": 20},
    {"temperature": 0.9, "min_p": 0.05},
    {"temperature": 1.0, "typical_p": 0.8},
    {"temperature": 1.0, "top_a": 0.2},
    {"temperature": 0.8, "presence_penalty": 1.0, "frequency_penalty": 0.5},
    {"temperature": 0.8, "repetition_penalty": 1.3, "top_k": 50, "top_p": 0.95},
]


def _mixed(i: int) -> SamplingParams:
    return SamplingParams(seed=7 * i + 3, max_tokens=10, **MIXED[i % len(MIXED)])  # type: ignore[arg-type]


def test_thirty_two_seeded_requests_with_mixed_parameters_match_their_solo_runs(engine: EngineClient) -> None:
    prompts = [f"Request {i} begins a story about a {['ship', 'tree', 'cloud', 'song'][i % 4]} that" for i in range(32)]
    alone = [asyncio.run(generate(engine, p, _mixed(i))).token_ids for i, p in enumerate(prompts)]
    before = engine.stats()

    async def together() -> list[list[int]]:
        results = await asyncio.gather(*(generate(engine, p, _mixed(i)) for i, p in enumerate(prompts)))
        return [r.token_ids for r in results]

    assert asyncio.run(together()) == alone
    assert engine.stats().num_batched_steps - before.num_batched_steps >= 5


LOGPROB_PROMPTS = ["def fibonacci(n):\n", "Water boils at a temperature of about"]  # multiples of 4 tokens


def test_greedy_logprobs_match_llama_cpp_high_level(engine: EngineClient, model_path: Path) -> None:
    llm = Llama(model_path=str(model_path), n_ctx=512, n_batch=512, flash_attn=True, logits_all=True, verbose=False)
    try:
        for prompt in LOGPROB_PROMPTS:
            llm.reset()
            expected = llm.create_completion(prompt, max_tokens=6, temperature=0.0, logprobs=5)["choices"][0]
            ours = asyncio.run(generate(engine, prompt, SamplingParams(temperature=0.0, max_tokens=6, logprobs=5)))
            entries = [o.logprobs[0] for o in ours.outputs if o.logprobs]
            reference = expected["logprobs"]
            assert len(entries) >= 1
            for entry, token_logprob, top in zip(
                entries, reference["token_logprobs"], reference["top_logprobs"], strict=False
            ):
                assert math.isclose(entry.logprob, token_logprob, abs_tol=1e-3)
                assert entry.top[0][0] == entry.token_id  # greedy: the sampled token is the best one
                ours_top = sorted((lp for _, lp in entry.top), reverse=True)
                theirs_top = sorted(top.values(), reverse=True)
                for a, b in zip(ours_top, theirs_top, strict=False):
                    assert math.isclose(a, b, abs_tol=1e-3)
    finally:
        llm.close()


def test_logprobs_are_normalized_and_ordered(engine: EngineClient) -> None:
    result = asyncio.run(
        generate(engine, "The sky is", SamplingParams(temperature=1.0, seed=5, max_tokens=5, logprobs=20))
    )
    for output in result.outputs:
        for entry in output.logprobs:
            values = [lp for _, lp in entry.top]
            assert len(values) == 20
            assert values == sorted(values, reverse=True)
            assert all(v <= 0.0 for v in values)
            assert sum(math.exp(v) for v in values) <= 1.0 + 1e-6
            assert entry.logprob <= values[0] + 1e-6
