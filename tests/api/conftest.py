"""One live server on the bundled model, shared by the API tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from openai import OpenAI

from tests.live_server import ADMIN_KEY, AUTH, live_server

MODEL = "gemma-3-270m"
# Another name of the model, with a slash as Hugging Face repo names have.
ALIAS = "google/gemma-3-270m"
DEPLOYMENTS = f"""
# The endpoint specification's defaults.
[deployments.plain]
model = "{MODEL}"

# Bound through an alias with a slash; short outputs keep the tests fast.
[deployments.short]
model = "{ALIAS}"
[deployments.short.defaults]
max_tokens = 12
"""


@pytest.fixture(scope="session")
def server_url(openmaas_home: Path, model_path: Path) -> Iterator[str]:
    deployments = openmaas_home / "deployments.toml"
    deployments.write_text(DEPLOYMENTS)
    env = {
        "OPENMAAS_DEPLOYMENTS_FILE": str(deployments),
        "OPENMAAS_MODEL_ALIASES": ALIAS,
        # A generate-dialect default that a test can see (docs/settings.md).
        "OPENMAAS_GENERATE_MAX_NEW_TOKENS": "24",
    }
    with live_server(openmaas_home, env) as url:
        yield url


@pytest.fixture(scope="session")
def client(server_url: str) -> Iterator[OpenAI]:
    with OpenAI(base_url=f"{server_url}/v1", api_key=ADMIN_KEY, max_retries=0) as openai_client:
        yield openai_client


@pytest.fixture()
def http(server_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server_url, timeout=60.0, headers=AUTH) as http_client:
        yield http_client


def engine_stats(http: httpx.Client) -> dict[str, int]:
    models = http.get("/api/admin/status").json()["models"]
    stats: dict[str, int] = models[0]["engine"]
    return stats
