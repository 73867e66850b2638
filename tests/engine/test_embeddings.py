"""Embeddings on the real engine: batch-invariant, and equal to llama-cpp-python's on the same GGUF."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import llama_cpp
import numpy as np
import pytest

from openmaas.engine import EngineClient

# Lengths of every remainder modulo 8, so inputs sit at every alignment inside a batch.
TEXTS = [f"Sentence {i}: {'the quick brown fox ' * (i % 4 + 1)}jumps over {i} lazy dogs." for i in range(13)] + [
    "Hi",
    "Hello there",
    "one two three four five six seven",
]


def _tokens(engine: EngineClient, text: str) -> list[int]:
    return engine.tokenize(text, add_special=True, parse_special=False)


async def _embed_each_alone(engine: EngineClient, inputs: list[list[int]]) -> np.ndarray:
    return np.stack([(await engine.embed([tokens]))[0] for tokens in inputs])


def test_an_input_gets_the_same_vector_alone_and_in_a_batch_of_16(engine: EngineClient) -> None:
    inputs = [_tokens(engine, text) for text in TEXTS]
    assert len({len(tokens) % 4 for tokens in inputs}) > 1  # lengths that fill the rows' groups of 4 unevenly

    async def run() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        alone = await _embed_each_alone(engine, inputs)
        one_call = np.stack(await engine.embed(inputs))
        # 16 calls at once share batches too (in the order they arrive).
        concurrent = await asyncio.gather(*(engine.embed([tokens]) for tokens in reversed(inputs)))
        return alone, one_call, np.stack([vectors[0] for vectors in reversed(concurrent)])

    alone, one_call, concurrent = asyncio.run(run())
    assert np.abs(one_call - alone).max() <= 1e-5
    assert np.abs(concurrent - alone).max() <= 1e-5
    assert np.allclose(np.linalg.norm(alone, axis=1), 1.0, atol=1e-6)
    assert alone.dtype == np.float32 and alone.shape == (16, engine.model_info.n_embd)


def test_concurrent_calls_share_batches(engine: EngineClient) -> None:
    inputs = [_tokens(engine, text) for text in TEXTS]

    async def run() -> None:
        await asyncio.gather(*(engine.embed([tokens]) for tokens in inputs))

    before = engine.embedding_counts()
    asyncio.run(run())
    num_batches, num_inputs = (after - was for after, was in zip(engine.embedding_counts(), before, strict=True))
    assert num_inputs == 16
    assert num_batches < 16


@pytest.fixture(scope="module")
def reference(model_path: Path) -> Iterator[llama_cpp.Llama]:
    """llama-cpp-python's high-level API on the same file: mean pooling, as the engine uses for this model."""
    llm = llama_cpp.Llama(
        str(model_path), embedding=True, pooling_type=llama_cpp.LLAMA_POOLING_TYPE_MEAN, n_ctx=1024, verbose=False
    )
    yield llm
    llm.close()


def test_vectors_equal_llama_cpp_pythons_embed(engine: EngineClient, reference: llama_cpp.Llama) -> None:
    inputs = [_tokens(engine, text) for text in TEXTS]
    ours = asyncio.run(_embed_each_alone(engine, inputs))
    expected = np.array([reference.embed(text, normalize=True) for text in TEXTS], dtype=np.float32)
    # llama.cpp computes rows in groups of 4 and any leftover rows with other kernels (docs/determinism.md);
    # the engine pads every input to whole groups, so an input of a whole number of groups takes exactly
    # the kernels of Llama.embed() on it alone.
    whole = [i for i, tokens in enumerate(inputs) if len(tokens) % 4 == 0]
    assert len(whole) >= 4
    assert np.abs(ours[whole] - expected[whole]).max() <= 1e-4
    # Other lengths differ by what llama.cpp itself varies between layouts (up to 6e-3 measured for the
    # same text alone and inside a list given to Llama.embed()), most for the shortest inputs, whose
    # leftover rows are a larger share: the same direction all the same.
    assert np.abs(ours - expected).max() <= 1e-2
    assert float(np.min(np.sum(ours * expected, axis=1))) >= 0.999
