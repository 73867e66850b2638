"""A control-plane database per test: SQLite in a temporary folder, and PostgreSQL when
OPENMAAS_TEST_POSTGRES_URL names one (.ci/run starts a throwaway cluster and sets it)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from openmaas.control.db import create_db_engine
from openmaas.control.plane import ControlPlane

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


@pytest.fixture()
def plane(database_url: str) -> Iterator[ControlPlane]:
    control = ControlPlane(database_url, usage_flush_interval=0.05)
    control.start()
    yield control
    control.close()
