"""What every CLI command reads first: the settings, and the home and database it works on.

A command run in a shell without the server's ``OPENMAAS_HOME`` would otherwise
write to another home, silently: a key created there is one the server never sees.
So each command that writes says where, on stderr, and warns when the database it
opens did not exist yet.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy.engine import make_url

from openmaas.control.plane import ControlPlane
from openmaas.settings import Settings


class SettingsError(Exception):
    """Settings that cannot be used, described in one line (the CLI prints it and exits 1)."""


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment, .env and the command's flags; SettingsError if they are invalid."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise SettingsError(describe(exc)) from None


def describe(exc: ValidationError) -> str:
    """Each problem as 'OPENMAAS_NAME: what is wrong', joined on one line."""
    problems = []
    for error in exc.errors(include_url=False):
        location = error.get("loc") or ()
        message = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
        field = str(location[0]) if location else None
        problems.append(f"OPENMAAS_{field.upper()}: {message}" if field else message)
    return "invalid settings: " + "; ".join(problems)


def sqlite_path(url: str) -> Path | None:
    """The database file of a SQLite URL; None for another database or an in-memory one."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def describe_database(settings: Settings) -> str:
    """The database URL, its password hidden."""
    return make_url(settings.resolved_database_url).render_as_string(hide_password=True)


def open_control_plane(settings: Settings, *, writes: bool) -> ControlPlane:
    """The control plane of settings' database, migrated. A command that writes first says, on
    stderr, which home and database it uses; any command warns if that database is created now."""
    url = settings.resolved_database_url
    database = sqlite_path(url)
    if writes:
        sys.stderr.write(f"openmaas: home {settings.home}, database {describe_database(settings)}\n")
    if database is not None and not database.exists():
        sys.stderr.write(
            f"openmaas: warning: {database} did not exist; creating a new, empty database. A server "
            "started with another OPENMAAS_HOME or OPENMAAS_DATABASE_URL will not see what this writes.\n"
        )
    plane = ControlPlane(url)
    plane.start()
    return plane
