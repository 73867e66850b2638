"""Sessions: a request that continues an earlier one resumes from its KV, computing no prompt token again."""

from __future__ import annotations

import asyncio

from openmaas.engine import EngineClient, FinishReason, SamplingParams
from tests.engine.helpers import Generation

PROMPT = "Write a long story about a lighthouse keeper and the sea."


async def _run(engine: EngineClient, tokens: list[int], params: SamplingParams, session_id: str | None) -> Generation:
    result = Generation()
    async for output in engine.generate(tokens, params, session_id=session_id):
        result.text += output.text
        result.token_ids.extend(output.token_ids)
        result.outputs.append(output)
    return result


def test_continuation_equals_one_long_generation_and_computes_no_prompt_again(engine: EngineClient) -> None:
    tokens = engine.tokenize(PROMPT)
    greedy = SamplingParams(temperature=0.0, max_tokens=32, ignore_eos=True)
    whole = asyncio.run(_run(engine, tokens, SamplingParams(temperature=0.0, max_tokens=64, ignore_eos=True), None))

    first = asyncio.run(_run(engine, tokens, greedy, "story"))
    assert first.last.finish_reason is FinishReason.LENGTH
    before = engine.call_in_engine(lambda core: core.stats()).result()
    second = asyncio.run(_run(engine, tokens + first.token_ids, greedy, "story"))
    after = engine.call_in_engine(lambda core: core.stats()).result()

    assert first.token_ids + second.token_ids == whole.token_ids
    assert first.text + second.text == whole.text
    assert after.num_computed_prompt_tokens == before.num_computed_prompt_tokens
    assert after.num_session_resumes == before.num_session_resumes + 1
    # Everything but the last token of the first call was already in the KV.
    assert second.last.num_cached_tokens == len(tokens) + 32 - 1
    assert second.last.num_prompt_tokens == len(tokens) + 32
    engine.drop_session("story")


def test_a_prompt_that_does_not_continue_the_session_is_computed_normally(engine: EngineClient) -> None:
    tokens = engine.tokenize(PROMPT)
    params = SamplingParams(temperature=0.0, max_tokens=8, ignore_eos=True)
    first = asyncio.run(_run(engine, tokens, params, "other"))
    before = engine.call_in_engine(lambda core: core.stats()).result()
    # Same session, but the tokens diverge from what the session holds (its first output token).
    edited = tokens + [first.token_ids[0] + 1] + first.token_ids[1:]
    again = asyncio.run(_run(engine, edited, params, "other"))
    after = engine.call_in_engine(lambda core: core.stats()).result()
    assert again.last.finish_reason is FinishReason.LENGTH
    assert after.num_session_resumes == before.num_session_resumes
    assert after.num_computed_prompt_tokens > before.num_computed_prompt_tokens
    engine.drop_session("other")


def test_dropping_a_session_frees_its_slot(engine: EngineClient) -> None:
    tokens = engine.tokenize(PROMPT)
    asyncio.run(_run(engine, tokens, SamplingParams(temperature=0.0, max_tokens=4), "dropped"))
    held = engine.call_in_engine(lambda core: core.kv_cache.session_slot("dropped") is not None).result()
    assert held
    engine.drop_session("dropped")
    gone = engine.call_in_engine(lambda core: core.kv_cache.session_slot("dropped") is None).result()
    assert gone


def test_an_aborted_request_keeps_no_session(engine: EngineClient) -> None:
    tokens = engine.tokenize(PROMPT)

    async def cut_short() -> None:
        stream = engine.generate(tokens, SamplingParams(temperature=0.0, max_tokens=64), session_id="cut")
        async for _ in stream:
            break
        await stream.aclose()

    asyncio.run(cut_short())
    kept = engine.call_in_engine(lambda core: core.kv_cache.session_slot("cut")).result()
    assert kept is None
