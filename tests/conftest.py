"""Session-wide fixtures: one openmaas home, the bundled model file, one live server for API and console tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from openai import OpenAI
from sqlalchemy import text

from openmaas.control.db import create_db_engine
from openmaas.fleet.sources import bundled_model
from tests.live_server import ADMIN_KEY, ALIAS, AUTH, DEPLOYMENTS, free_port, live_server


@pytest.fixture(scope="session")
def openmaas_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("openmaas-home")


@pytest.fixture(scope="session")
def model_path(openmaas_home: Path) -> Path:
    return bundled_model(openmaas_home).path


@pytest.fixture(scope="session")
def cors_port() -> int:
    """A port for pages of other origins: the session server allows http://localhost:<port> (CORS), and
    http://127.0.0.1:<port> is an origin it does not allow."""
    return free_port()


@pytest.fixture(scope="session")
def cors_origin(cors_port: int) -> str:
    return f"http://localhost:{cors_port}"


@pytest.fixture(scope="session")
def server_url(openmaas_home: Path, model_path: Path, cors_origin: str) -> Iterator[str]:
    deployments = openmaas_home / "deployments.toml"
    deployments.write_text(DEPLOYMENTS)
    env = {
        "OPENMAAS_DEPLOYMENTS_FILE": str(deployments),
        "OPENMAAS_MODEL_ALIASES": ALIAS,
        # A generate-dialect default that a test can see (docs/settings.md).
        "OPENMAAS_GENERATE_MAX_NEW_TOKENS": "24",
        "OPENMAAS_CORS_ORIGINS": cors_origin,
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


# The control plane's database: SQLite in a temporary folder, and PostgreSQL when
# OPENMAAS_TEST_POSTGRES_URL names one (.ci/run starts a throwaway cluster and sets it).
POSTGRES_URL = os.environ.get("OPENMAAS_TEST_POSTGRES_URL")


def reset_postgres(url: str) -> None:
    engine = create_db_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param(
            "postgresql",
            marks=pytest.mark.skipif(POSTGRES_URL is None, reason="OPENMAAS_TEST_POSTGRES_URL is not set"),
        ),
    ]
)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database on each engine."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'openmaas.db'}"
    assert POSTGRES_URL is not None
    reset_postgres(POSTGRES_URL)
    return POSTGRES_URL
