"""One real engine on the bundled model, shared by the engine tests, checked after each test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from openmaas.engine import EngineClient, EngineConfig
from openmaas.engine.core import EngineCore

ENGINE_MAX_MODEL_LEN = 1024


@pytest.fixture(scope="session")
def engine(model_path: Path) -> Iterator[EngineClient]:
    config = EngineConfig(
        model_path=str(model_path),
        max_num_seqs=32,
        max_num_batched_tokens=512,
        max_model_len=ENGINE_MAX_MODEL_LEN,
        num_cache_slots=16,
    )
    client = EngineClient(config, check_invariants=True)
    yield client
    client.close()


def assert_idle_and_leak_free(core: EngineCore) -> None:
    core.check_invariants()
    stats = core.stats()
    assert stats.num_running == 0 and stats.num_waiting == 0
    assert stats.num_free_slots + stats.num_cached_slots == stats.num_total_slots


@pytest.fixture(autouse=True)
def no_leaks_after_test(request: pytest.FixtureRequest) -> Iterator[None]:
    """Once a test's requests have all ended or been cancelled, every slot is free or cached."""
    yield
    if "engine" in request.fixturenames:
        engine: EngineClient = request.getfixturevalue("engine")
        engine.call_in_engine(assert_idle_and_leak_free).result(timeout=60)
