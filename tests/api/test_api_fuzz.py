"""The whole API, fuzzed from /openapi.json with an admin key: every phase (examples, coverage,
fuzzing, stateful), and not one server error.

A bounded run (OPENMAAS_TEST_FUZZ_SECONDS, 45 s by default) on a server of its own (its own
database, since the fuzzer creates keys, models and deployments); docs/operations.md records a
longer run made by hand with the same command.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.live_server import ADMIN_KEY, ALIAS, DEPLOYMENTS, live_server

FUZZ_SECONDS = int(os.environ.get("OPENMAAS_TEST_FUZZ_SECONDS", "45"))
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def fuzzed_url(openmaas_home: Path, model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    own = tmp_path_factory.mktemp("fuzzed")
    deployments = own / "deployments.toml"
    deployments.write_text(DEPLOYMENTS)
    env = {
        "OPENMAAS_DATABASE_URL": f"sqlite:///{own / 'openmaas.db'}",
        "OPENMAAS_DEPLOYMENTS_FILE": str(deployments),
        "OPENMAAS_MODEL_ALIASES": ALIAS,
        # Catalog entries it invents from Hugging Face fail at once rather than reaching for a network.
        "HF_HUB_OFFLINE": "1",
    }
    with live_server(openmaas_home, env) as url:
        yield url


def fuzz_command(base_url: str, seconds: int) -> list[str]:
    """The schemathesis run (also the one docs/operations.md gives for a run by hand)."""
    return [
        *(sys.executable, "-m", "schemathesis.cli", "run", f"{base_url}/openapi.json"),
        *("--header", f"Authorization: Bearer {ADMIN_KEY}"),
        # Generations end after a second, so the fuzzer's max_tokens cannot make a run crawl.
        *("--header", "X-Request-Timeout: 1"),
        *("--checks", "not_a_server_error"),
        *("--phases", "examples,coverage,fuzzing,stateful"),
        *("--max-time", str(seconds), "--workers", "2", "--request-timeout", "120"),
        *("--generation-database", "none", "--no-color"),
    ]


def test_fuzzing_every_route_finds_no_server_error(fuzzed_url: str) -> None:
    result = subprocess.run(
        fuzz_command(fuzzed_url, FUZZ_SECONDS),
        env={**os.environ, "SCHEMATHESIS_HOOKS": "tests.api.schemathesis_hooks"},
        cwd=REPO,  # where the hooks module is found
        capture_output=True,
        text=True,
        timeout=FUZZ_SECONDS + 600,
    )
    report = result.stdout[-6000:] + result.stderr[-2000:]
    assert result.returncode == 0, report
    assert "generated" in result.stdout, report
