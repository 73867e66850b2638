"""Alembic environment: runs on the engine that ``openmaas.control.db.upgrade`` passes in.

Add a revision with (from the repository root, on a scratch database):
``alembic -c <(printf '[alembic]\\nscript_location=openmaas/control/migrations\\n') revision -m "..."``,
or write one by hand: each revision's ``down_revision`` is the current head (there is one head).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from openmaas.control.db import Base, import_table_modules

import_table_modules()
target_metadata = Base.metadata


def run_migrations_online() -> None:
    engine = context.config.attributes.get("engine")
    if not isinstance(engine, Engine):
        raise RuntimeError("run migrations through openmaas.control.db.upgrade(engine)")
    with engine.begin() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            # SQLite alters tables by copying them.
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        context.run_migrations()


if context.is_offline_mode():
    raise RuntimeError("offline migrations are not supported")
run_migrations_online()
