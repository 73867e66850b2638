"""A started control plane per test, on each database engine (the database_url fixture: tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from openmaas.control.plane import ControlPlane


@pytest.fixture()
def plane(database_url: str) -> Iterator[ControlPlane]:
    control = ControlPlane(database_url, usage_flush_interval=0.05)
    control.start()
    yield control
    control.close()
