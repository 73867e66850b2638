"""Deployments: named endpoints, each bound to one served model with its own default generation settings.

A deployment answers at ``/{name}/v1/chat/completions`` and ``/{name}/v1/completions``.
Until the control plane keeps them in its database, they are read from a TOML
file (``OPENMAAS_DEPLOYMENTS_FILE``)::

    [deployments.my-gemma]
    model = "gemma-3-270m"          # a served model's id or alias
    keep_alive = "10m"              # optional; the model's own keep-alive otherwise

    [deployments.my-gemma.defaults] # optional; every key optional
    temperature = 0.2
    max_tokens = 256

Plain data only: no web framework, no engine.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from openmaas.control.keep_alive import parse_keep_alive
from openmaas.errors import InvalidRequest, NotFound

# One URL path segment, so /{name}/v1/... never spans segments.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
# First path segments of the server's own routes and pages (the console's /models/{id} and /static among
# them): a deployment so named would be ambiguous.
RESERVED_NAMES = frozenset(
    {"v1", "api", "health", "ready", "metrics", "tokenize", "detokenize", "openapi.json", "docs", "redoc"}
    | {"models", "static"}
)
# A defaults value of "none" for seed: no fixed seed (TOML has no null).
NO_SEED = "none"
# The integer defaults and their least values (None: any integer; seeds are taken modulo 2^64).
_INTEGER_MINIMUMS: dict[str, int | None] = {"max_tokens": 1, "top_k": 0, "seed": None, "end_id": 0}


class DeploymentNotFound(NotFound):
    code = "deployment_not_found"


class DeploymentsFileError(ValueError):
    """The deployments file cannot be read or does not describe valid deployments."""


@dataclass(frozen=True, slots=True)
class GenerationDefaults:
    """A deployment's default generation settings; a request's own values override them field by field.

    The defaults of the defaults are the endpoint specification's. ``stop`` empty
    and ``end_id`` None mean the model's own end-of-generation tokens only, at
    which generation always stops; ``end_id`` adds one more stop token id.
    """

    max_tokens: int = 1024
    temperature: float = 0.7
    top_p: float = 0.7
    top_k: int = 40
    repetition_penalty: float = 1.0
    seed: int | None = 2
    stop: tuple[str, ...] = ()
    end_id: int | None = None

    def request_fields(self) -> dict[str, Any]:
        """The defaults as request fields of the same names; unset ones left out."""
        values: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        values["stop"] = list(self.stop) or None
        return {name: value for name, value in values.items() if value is not None}


@dataclass(frozen=True, slots=True)
class Deployment:
    """A named endpoint: the model it serves (an id or alias) and its generation defaults."""

    name: str
    model: str
    defaults: GenerationDefaults = field(default_factory=GenerationDefaults)
    # Seconds the model stays loaded after a request through this deployment (None: the model's own).
    keep_alive: float | None = None


class Deployments:
    """The deployments this server answers for, by name."""

    def __init__(self, deployments: Iterable[Deployment] = ()) -> None:
        self._by_name: dict[str, Deployment] = {}
        for deployment in deployments:
            if deployment.name in self._by_name:
                raise DeploymentsFileError(f"deployment '{deployment.name}' is defined twice")
            self._by_name[deployment.name] = deployment

    def get(self, name: str) -> Deployment:
        deployment = self._by_name.get(name)
        if deployment is None:
            raise DeploymentNotFound(f"The deployment '{name}' does not exist")
        return deployment

    def list(self) -> list[Deployment]:
        return list(self._by_name.values())

    def replace_all(self, deployments: Iterable[Deployment]) -> None:
        """Serves exactly these from now on (the catalog's deployments, re-read after a change)."""
        self._by_name = {d.name: d for d in deployments}


def load_deployments(path: Path) -> Deployments:
    """The deployments a TOML file describes; DeploymentsFileError names the file and the bad key."""
    try:
        with open(path, "rb") as file:
            data = tomllib.load(file)
    except OSError as exc:
        raise DeploymentsFileError(f"cannot read the deployments file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise DeploymentsFileError(f"{path}: not valid TOML: {exc}") from None
    try:
        return parse_deployments(data)
    except DeploymentsFileError as exc:
        raise DeploymentsFileError(f"{path}: {exc}") from None


def parse_deployments(data: dict[str, Any]) -> Deployments:
    """Deployments from the parsed TOML document: a table ``deployments`` of tables, one per name."""
    _check_keys("the file", data, {"deployments"})
    tables = data.get("deployments", {})
    if not isinstance(tables, dict):
        raise DeploymentsFileError("'deployments' must be a table of deployments")
    return Deployments(_parse_deployment(name, table) for name, table in tables.items())


def check_deployment_name(name: str) -> None:
    """DeploymentsFileError unless name is one path segment and not a reserved one."""
    where = f"deployments.{name}"
    if not _NAME.match(name):
        raise DeploymentsFileError(
            f"{where}: a deployment name is 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    if name.lower() in RESERVED_NAMES:
        raise DeploymentsFileError(f"{where}: '{name}' is reserved (it begins routes of the server itself)")


def _parse_deployment(name: str, table: object) -> Deployment:
    where = f"deployments.{name}"
    check_deployment_name(name)
    if not isinstance(table, dict):
        raise DeploymentsFileError(f"{where} must be a table")
    _check_keys(where, table, {"model", "defaults", "keep_alive"})
    model = table.get("model")
    if not isinstance(model, str) or not model.strip():
        raise DeploymentsFileError(f"{where}.model: the id of a served model is required")
    defaults = table.get("defaults", {})
    if not isinstance(defaults, dict):
        raise DeploymentsFileError(f"{where}.defaults must be a table")
    try:
        keep_alive = parse_keep_alive(table.get("keep_alive"), param=f"{where}.keep_alive")
    except InvalidRequest as exc:
        raise DeploymentsFileError(exc.message) from None
    return Deployment(name, model.strip(), parse_defaults(f"{where}.defaults", defaults), keep_alive)


def parse_defaults(where: str, table: dict[str, Any]) -> GenerationDefaults:
    """GenerationDefaults from a table of them (TOML or JSON); DeploymentsFileError names the bad key."""
    _check_keys(where, table, {f.name for f in fields(GenerationDefaults)})
    values: dict[str, Any] = {}
    for key, value in table.items():
        at = f"{where}.{key}"
        if key in ("temperature", "top_p", "repetition_penalty"):
            values[key] = _number(at, value)
        elif key == "seed" and value == NO_SEED:
            values[key] = None
        elif key in _INTEGER_MINIMUMS:
            values[key] = _integer(at, value, minimum=_INTEGER_MINIMUMS[key])
        elif key == "stop":
            values[key] = _strings(at, value)
    return GenerationDefaults(**values)


def request_defaults(where: str, table: dict[str, Any]) -> dict[str, Any]:
    """The request fields a catalog model's defaults table sets, only the keys it names.

    Unlike a deployment's (complete: the specification fills what is unset), a
    model's defaults leave every other field to the request or its dialect.
    ``end_id`` becomes ``stop_token_ids``; a seed of "none" sets nothing.
    """
    parsed = parse_defaults(where, table)
    values: dict[str, Any] = {}
    for key in table:
        value = getattr(parsed, key)
        if key == "stop":
            values[key] = list(value)
        elif key == "end_id":
            values["stop_token_ids"] = [value]
        elif value is not None:
            values[key] = value
    return values


def _check_keys(where: str, table: dict[str, Any], known: set[str]) -> None:
    unknown = sorted(set(table) - known)
    if unknown:
        raise DeploymentsFileError(f"{where}: unknown key '{unknown[0]}' (known: {', '.join(sorted(known))})")


def _number(at: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise DeploymentsFileError(f"{at}: expected a number, got {value!r}")
    return float(value)


def _integer(at: str, value: object, *, minimum: int | None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise DeploymentsFileError(f"{at}: expected an integer, got {value!r}")
    if minimum is not None and value < minimum:
        raise DeploymentsFileError(f"{at}: must be at least {minimum}, got {value}")
    return value


def _strings(at: str, value: object) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(item, str) and item for item in items):
        raise DeploymentsFileError(f"{at}: expected a non-empty string or an array of them, got {value!r}")
    return tuple(items)
