"""Session-wide fixtures: one openmaas home and the bundled model file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import text

from openmaas.control.db import create_db_engine
from openmaas.fleet.sources import bundled_model


@pytest.fixture(scope="session")
def openmaas_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("openmaas-home")


@pytest.fixture(scope="session")
def model_path(openmaas_home: Path) -> Path:
    return bundled_model(openmaas_home).path


# The control plane's database: SQLite in a temporary folder, and PostgreSQL when
# OPENMAAS_TEST_POSTGRES_URL names one (.ci/run starts a throwaway cluster and sets it).
POSTGRES_URL = os.environ.get("OPENMAAS_TEST_POSTGRES_URL")


def _reset_postgres(url: str) -> None:
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
    _reset_postgres(POSTGRES_URL)
    return POSTGRES_URL
