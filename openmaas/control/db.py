"""The control plane's database: engine and session factory from a URL, the declarative Base, migrations.

SQLite in the openmaas home by default; PostgreSQL when ``OPENMAAS_DATABASE_URL``
names one (``postgresql+psycopg://...``). Nothing is created at import time: the
app (or the CLI) calls ``create_db_engine`` with the URL from its settings, then
``upgrade`` runs the Alembic migrations shipped in ``openmaas/control/migrations``.
Every table module's classes derive from ``Base``; ``import_table_modules`` loads
them all so that Alembic (and the schema test) see the whole schema.
"""

from __future__ import annotations

import importlib
import pkgutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import DateTime, Dialect, Engine, MetaData, create_engine, event
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

MIGRATIONS_DIR = Path(__file__).with_name("migrations")

# The largest values the integer column types hold on every supported database: an Integer column
# is 32 bits on PostgreSQL (64 on SQLite), a BigInteger 64 bits. Wire models check numbers against
# these, so a value too large is the client's 400, not an overflow in the driver.
MAX_INTEGER = 2**31 - 1
MAX_BIG_INTEGER = 2**63 - 1

# Stable constraint names, so that migrations can name what they alter on both engines.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """The base of every control-plane table."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: control-plane timestamps are UTC and timezone-aware")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def default_database_url(home: Path) -> str:
    return f"sqlite:///{home / 'openmaas.db'}"


def create_db_engine(url: str) -> Engine:
    """An engine for the URL; SQLite gets WAL and a busy timeout so the server and the CLI can share it."""
    if url.startswith("sqlite"):
        if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def alembic_config(engine: Engine) -> Config:
    """An Alembic config that runs the packaged migrations on this engine (no alembic.ini needed)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Brings the database to the revision (``alembic upgrade head`` by default)."""
    command.upgrade(alembic_config(engine), revision)


def import_table_modules() -> None:
    """Imports every module of the control package, so that Base.metadata holds every table."""
    package = importlib.import_module("openmaas.control")
    for module in pkgutil.iter_modules(package.__path__):
        if module.name != "migrations":
            importlib.import_module(f"openmaas.control.{module.name}")
