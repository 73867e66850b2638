"""Session-wide fixtures: one openmaas home and the bundled model file."""

from __future__ import annotations

from pathlib import Path

import pytest

from openmaas.fleet.sources import bundled_model


@pytest.fixture(scope="session")
def openmaas_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("openmaas-home")


@pytest.fixture(scope="session")
def model_path(openmaas_home: Path) -> Path:
    return bundled_model(openmaas_home).path
