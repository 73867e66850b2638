"""The store on SQLite and PostgreSQL: migrations, the schema, keys and usage rows."""

from __future__ import annotations

import dataclasses
import math
from datetime import UTC, datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from openmaas.control.catalog import CatalogModel
from openmaas.control.db import Base, alembic_config, create_db_engine, import_table_modules, upgrade
from openmaas.control.keys import KeySpec, hash_secret
from openmaas.control.plane import ControlPlane
from openmaas.errors import InvalidRequest, NotFound
from tests.control.usage_entries import usage_entry


def test_migrations_upgrade_an_empty_database_to_a_schema_that_matches_the_models(database_url: str) -> None:
    engine = create_db_engine(database_url)
    upgrade(engine)
    import_table_modules()
    with engine.connect() as connection:
        differences = compare_metadata(
            MigrationContext.configure(connection, opts={"compare_type": True}), Base.metadata
        )
        assert differences == []
        assert {"api_keys", "usage", "alembic_version"} <= set(inspect(connection).get_table_names())
    upgrade(engine)  # twice: nothing to do
    engine.dispose()


def test_there_is_exactly_one_head() -> None:
    script = ScriptDirectory.from_config(alembic_config(create_db_engine("sqlite://")))
    assert len(script.get_heads()) == 1


def test_key_lifecycle(plane: ControlPlane) -> None:
    key, secret = plane.keys.create(KeySpec(name="ci", allowed_models=["m"], max_requests_per_minute=3))
    assert secret.startswith("om-") and len(secret) > 40
    assert key.prefix == secret[:11] and key.secret_hash == hash_secret(secret)
    assert secret not in {key.prefix, key.secret_hash}
    found = plane.keys.find_by_hash(hash_secret(secret))
    assert found is not None and found.id == key.id and found.allowed_models == ["m"]
    assert found.created_at.tzinfo is not None
    assert plane.keys.find_by_hash(hash_secret(secret + "x")) is None
    assert [k.id for k in plane.keys.list()] == [key.id]
    revoked = plane.keys.revoke(key.id)
    assert revoked.revoked_at is not None
    assert plane.keys.revoke(key.id).revoked_at == revoked.revoked_at
    assert plane.keys.list(include_revoked=False) == []
    with pytest.raises(NotFound):
        plane.keys.revoke("key_missing")
    with pytest.raises(InvalidRequest):
        plane.keys.create(KeySpec(budget_period="week"))


def test_the_first_admin_key_is_created_once(plane: ControlPlane) -> None:
    secret = plane.create_first_admin_key()
    assert secret is not None
    assert plane.create_first_admin_key() is None
    (key,) = plane.keys.list()
    assert key.is_admin


def test_rows_written_just_before_shutdown_are_there_after_a_restart(database_url: str) -> None:
    first = ControlPlane(database_url, usage_flush_interval=30.0)
    first.start()
    for index in range(3):
        first.writer.submit(usage_entry(f"r{index}"))
    first.close()  # long before the flush interval: close writes them
    second = ControlPlane(database_url)
    second.start()
    try:
        assert sorted(row.request_id for row in second.usage.rows()) == ["r0", "r1", "r2"]
    finally:
        second.close()


def test_usage_by_model_key_and_day(plane: ControlPlane) -> None:
    late = datetime(2025, 3, 2, 0, 30, tzinfo=UTC)
    plane.writer.submit(usage_entry("a"))
    plane.writer.submit(usage_entry("b", model="n"))
    plane.writer.submit(usage_entry("c", key_id="key_b", created_at=late, status="cancelled"))
    plane.writer.flush()
    by_model = plane.usage.summary(["model"])
    assert [(row["model"], row["num_requests"], row["num_prompt_tokens"]) for row in by_model] == [
        ("m", 2, 20),
        ("n", 1, 10),
    ]
    by_day = plane.usage.summary(["day", "key"])
    assert [(row["day"], row["key_id"], row["num_completion_tokens"]) for row in by_day] == [
        ("2025-03-01", "key_a", 10),
        ("2025-03-02", "key_b", 5),
    ]
    assert plane.usage.summary([], key_id="key_a")[0]["cost"] == pytest.approx(1.0)
    assert plane.usage.totals_since("key_a", datetime(2025, 3, 1, tzinfo=UTC)) == (30, pytest.approx(1.0))
    assert plane.usage.totals_since("key_a", late - timedelta(minutes=1)) == (0, 0.0)
    assert [row.request_id for row in plane.usage.rows(limit=1)] == ["c"]
    with pytest.raises(InvalidRequest):
        plane.usage.summary(["prompt"])


def test_one_bad_usage_row_does_not_cost_the_others_of_its_batch(database_url: str) -> None:
    plane = ControlPlane(database_url, usage_flush_interval=30.0)
    plane.start()
    plane.writer.submit(usage_entry("good-1"))
    plane.writer.submit(dataclasses.replace(usage_entry("bad"), model=None))  # type: ignore[arg-type]
    plane.writer.submit(usage_entry("good-2"))
    plane.close()  # writes the three as one batch: the bad row fails it, the good ones are written alone
    again = ControlPlane(database_url)
    again.start()
    try:
        assert sorted(row.request_id for row in again.usage.rows()) == ["good-1", "good-2"]
    finally:
        again.close()


def test_a_catalog_model_kept_forever_reads_back_as_forever(plane: ControlPlane) -> None:
    plane.catalog.add_model(CatalogModel(id="m-forever", source_kind="local", source="/x.gguf", keep_alive=math.inf))
    stored = next(m for m in plane.catalog.list_models() if m.id == "m-forever")
    assert stored.keep_alive == math.inf
