"""The CLI's settings and home: a bad setting is one line and exit 1; a command that writes says where."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def openmaas(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Runs the CLI as a user would, in a clean environment (no OPENMAAS_* from the caller)."""
    base = {key: value for key, value in os.environ.items() if not key.startswith("OPENMAAS_")}
    return subprocess.run(
        [sys.executable, "-m", "openmaas.cli.main", *args],
        env={**base, **env},
        cwd=cwd,  # no .env file there
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_auth_disabled_off_loopback_is_one_clear_line_and_exit_1(tmp_path: Path) -> None:
    env = {"OPENMAAS_HOME": str(tmp_path), "OPENMAAS_AUTH_DISABLED": "true"}
    result = openmaas("serve", "--host", "0.0.0.0", "--port", "1", env=env, cwd=tmp_path)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("openmaas: invalid settings:") and "non-loopback host '0.0.0.0'" in lines[0]
    assert "Traceback" not in result.stderr and "pydantic" not in result.stderr


@pytest.mark.parametrize("command", [["keys", "list"], ["models", "list"]])
def test_an_invalid_value_names_its_variable(tmp_path: Path, command: list[str]) -> None:
    result = openmaas(*command, env={"OPENMAAS_HOME": str(tmp_path), "OPENMAAS_PORT": "eighty"}, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert "OPENMAAS_PORT" in result.stderr and "Traceback" not in result.stderr


def test_a_command_that_writes_says_which_home_and_warns_when_it_is_new(tmp_path: Path) -> None:
    home = tmp_path / "elsewhere"
    env = {"OPENMAAS_HOME": str(home)}
    first = openmaas("keys", "create", "--name", "ci", env=env, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert f"openmaas: home {home}, database sqlite:///{home / 'openmaas.db'}" in first.stderr
    assert "warning" in first.stderr and "did not exist" in first.stderr
    assert first.stdout.strip().startswith("om-")  # the secret, alone on stdout
    again = openmaas("keys", "revoke", "key_does_not_matter", env=env, cwd=tmp_path)
    assert f"openmaas: home {home}" in again.stderr and "did not exist" not in again.stderr
    # Reading commands say nothing of the home (their output is data), unless the database is new.
    listing = openmaas("keys", "list", env=env, cwd=tmp_path)
    assert listing.returncode == 0 and listing.stderr == ""


def test_models_list_shows_the_built_in_model_with_its_defaults(tmp_path: Path) -> None:
    env = {"OPENMAAS_HOME": str(tmp_path)}
    result = openmaas("models", "list", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    models = json.loads(result.stdout)
    assert [m["id"] for m in models] == ["gemma-3-270m"]
    (bundled,) = models
    assert bundled["built_in"] is True and bundled["source_kind"] == "bundled"
    assert bundled["defaults"] == {"max_tokens": 256}
    # A model served from OPENMAAS_MODEL is the built-in one instead, by its file's name.
    own = openmaas("models", "list", env={**env, "OPENMAAS_MODEL": "/models/tiny-q8.gguf"}, cwd=tmp_path)
    assert [(m["id"], m["built_in"]) for m in json.loads(own.stdout)] == [("tiny-q8", True)]
