"""ModelFleet's lifecycle over the real bundled model: the same GGUF under two ids is two models."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from pathlib import Path

import pytest

from openmaas.engine import EngineConfig, SamplingParams
from openmaas.errors import ModelNotFound, Overloaded
from openmaas.fleet.fleet import ModelFleet, ModelState
from openmaas.fleet.memory import estimate_memory
from openmaas.fleet.sources import ModelSource


def small_config(model_path: Path) -> EngineConfig:
    return EngineConfig(
        str(model_path),
        max_num_seqs=1,
        num_cache_slots=2,
        max_model_len=64,
        max_num_batched_tokens=72,
        prefill_chunk_size=64,
    )


def two_model_fleet(model_path: Path, **kwargs: object) -> tuple[ModelFleet, list[tuple[str, float]]]:
    loads: list[tuple[str, float]] = []
    fleet = ModelFleet(on_load=lambda model_id, seconds: loads.append((model_id, seconds)), **kwargs)  # type: ignore[arg-type]
    for model_id in ("a", "b"):
        fleet.register(ModelSource(model_id, model_path, (f"org/{model_id}",)), small_config(model_path), created=0)
    return fleet, loads


def run(coro: object) -> None:
    asyncio.run(coro)  # type: ignore[arg-type]


def test_memory_estimate_counts_weights_and_kv(model_path: Path) -> None:
    estimate = estimate_memory(small_config(model_path))
    assert estimate.weights_bytes == model_path.stat().st_size
    # Gemma 3 270M: 18 layers x 1 KV head x (256 + 256) x 2 bytes per cell; 18 slots (1 request rounded up
    # to the 16 rows of a padded decode step, and 2 cache slots) x 64 cells.
    assert estimate.kv_cache_bytes == 18 * 1 * 512 * 2 * 18 * 64


def test_memory_estimate_of_a_q8_0_kv_cache(model_path: Path) -> None:
    f16 = estimate_memory(small_config(model_path)).kv_cache_bytes
    q8_0 = estimate_memory(dataclasses.replace(small_config(model_path), kv_cache_type="q8_0")).kv_cache_bytes
    assert q8_0 == f16 * 17 // 32  # blocks of 32 values in 34 bytes, against 64 bytes in f16


def test_cap_of_one_swaps_models_least_recently_used(model_path: Path) -> None:
    async def main() -> None:
        fleet, loads = two_model_fleet(model_path, max_loaded_models=1)
        try:
            for name in ("a", "b", "org/a", "b", "b"):
                lease = await fleet.acquire(name)
                assert [s.source.model_id for s in fleet.list()] == [lease.served.source.model_id]
                lease.release()
            assert [model_id for model_id, _ in loads] == ["a", "b", "a", "b"]
            assert all(0 < seconds < 30 for _, seconds in loads)
            # A busy model is never evicted: the other one cannot load now.
            held = await fleet.acquire("b")
            with pytest.raises(Overloaded) as caught:
                await fleet.acquire("a")
            assert caught.value.retry_after is not None
            held.release()
            (await fleet.acquire("a")).release()
            assert len(loads) == 5
        finally:
            await fleet.aclose()

    run(main())


def test_concurrent_first_requests_share_one_load(model_path: Path) -> None:
    async def main() -> None:
        fleet, loads = two_model_fleet(model_path)
        try:
            leases = await asyncio.gather(*(fleet.acquire("a") for _ in range(8)))
            assert len(loads) == 1
            assert fleet.entry("a").num_active == 8
            outputs = [o async for o in leases[0].served.engine.generate([2, 651], SamplingParams(max_tokens=2))]
            assert outputs[-1].finished
            for lease in leases:
                lease.release()
            assert fleet.entry("a").num_active == 0
            assert fleet.entry("a").state is ModelState.LOADED
        finally:
            await fleet.aclose()

    run(main())


def test_keep_alive_zero_unloads_after_the_request(model_path: Path) -> None:
    async def main() -> None:
        fleet, loads = two_model_fleet(model_path)
        try:
            lease = await fleet.acquire("a", keep_alive=0)
            entry = fleet.entry("a")
            lease.release()
            lease.release()  # idempotent
            assert entry.state is ModelState.UNLOADING
            if entry.task is not None:
                await entry.task
            assert entry.state is ModelState.UNLOADED and fleet.list() == []
            # A short keep-alive as a duration string: unloaded once it runs out, not before.
            (await fleet.acquire("a", keep_alive="200ms")).release()
            assert entry.state is ModelState.LOADED
            deadline = time.monotonic() + 10
            while entry.state is not ModelState.UNLOADED and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            assert entry.state is ModelState.UNLOADED
            assert len(loads) == 2
        finally:
            await fleet.aclose()

    run(main())


def test_memory_budget_and_removal(model_path: Path) -> None:
    async def main() -> None:
        one_model = estimate_memory(small_config(model_path)).total_bytes
        fleet, loads = two_model_fleet(model_path, max_loaded_bytes=one_model + one_model // 2)
        try:
            (await fleet.acquire("a")).release()
            lease = await fleet.acquire("b")  # a is idle: evicted to make room
            assert [s.source.model_id for s in fleet.list()] == ["b"]
            fleet.unregister("b")
            with pytest.raises(ModelNotFound):
                await fleet.acquire("b")
            assert fleet.entries()[0].model_id == "a"
            lease.release()  # the removed model unloads once its request ends
            await asyncio.sleep(0)
            assert fleet.list() == []
            assert len(loads) == 2
        finally:
            await fleet.aclose()

    run(main())
