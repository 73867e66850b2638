"""The model catalog and the deployments, in the control plane's database.

A catalog entry says where a model's GGUF comes from (``source_kind``: a registry
name such as "local" or "huggingface", resolved by ``fleet/sources.py``), what to
show about it (name, description, context, parameters, quantization, license,
tags), its prices per million tokens, its default generation settings and
keep-alive. Deployments (``control/deployments.py``) are stored here too; the
TOML file of ``OPENMAAS_DEPLOYMENTS_FILE`` is written over them at start (a seed).
Plain data and SQLAlchemy only: no engine, no web framework.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Float, Integer, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from openmaas.control.db import Base, UtcDateTime, utcnow
from openmaas.control.deployments import (
    Deployment,
    DeploymentNotFound,
    DeploymentsFileError,
    GenerationDefaults,
    check_deployment_name,
    parse_defaults,
)
from openmaas.errors import InvalidRequest, ModelNotFound, OpenmaasError


class ModelExists(OpenmaasError):
    code = "model_exists"
    http_status = 409
    error_type = "invalid_request_error"


class DeploymentExists(ModelExists):
    code = "deployment_exists"


class ModelRow(Base):
    """A catalog entry."""

    __tablename__ = "models"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    # A model source registry name ("bundled", "local", "huggingface") and its location.
    source_kind: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(1000), default="")
    # The GGUF file inside a Hugging Face repository.
    file: Mapped[str | None] = mapped_column(String(500), nullable=True)
    aliases: Mapped[list[str]] = mapped_column(JSON, default=list)
    context_length: Mapped[int | None] = mapped_column(Integer, nullable=True)
    parameter_count: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    quantization: Mapped[str | None] = mapped_column(String(64), nullable=True)
    license: Mapped[str | None] = mapped_column(String(200), nullable=True)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    input_price_per_million: Mapped[float] = mapped_column(Float, default=0.0)
    output_price_per_million: Mapped[float] = mapped_column(Float, default=0.0)
    # Default generation settings (GenerationDefaults' fields).
    defaults: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Seconds (None: the server's OPENMAAS_KEEP_ALIVE; -1: forever).
    keep_alive: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class DeploymentRow(Base):
    """A deployment: a named endpoint bound to a model, with its defaults and keep-alive."""

    __tablename__ = "deployments"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    model: Mapped[str] = mapped_column(String(200))
    defaults: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    keep_alive: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


@dataclass(frozen=True, slots=True)
class CatalogModel:
    """A catalog entry as plain data."""

    id: str
    source_kind: str
    source: str = ""
    file: str | None = None
    display_name: str = ""
    description: str = ""
    aliases: tuple[str, ...] = ()
    context_length: int | None = None
    parameter_count: int | None = None
    quantization: str | None = None
    license: str | None = None
    tags: tuple[str, ...] = ()
    input_price_per_million: float = 0.0
    output_price_per_million: float = 0.0
    defaults: dict[str, Any] = field(default_factory=dict)
    keep_alive: float | None = None
    created_at: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values["aliases"] = list(self.aliases)
        values["tags"] = list(self.tags)
        values["created_at"] = self.created_at.isoformat() if self.created_at else None
        return values


def _model(row: ModelRow) -> CatalogModel:
    return CatalogModel(
        id=row.id,
        source_kind=row.source_kind,
        source=row.source,
        file=row.file,
        display_name=row.display_name,
        description=row.description,
        aliases=tuple(row.aliases or ()),
        context_length=row.context_length,
        parameter_count=row.parameter_count,
        quantization=row.quantization,
        license=row.license,
        tags=tuple(row.tags or ()),
        input_price_per_million=row.input_price_per_million,
        output_price_per_million=row.output_price_per_million,
        defaults=dict(row.defaults or {}),
        keep_alive=_keep_alive_value(row.keep_alive),
        created_at=row.created_at,
    )


def _keep_alive_column(seconds: float | None) -> float | None:
    return -1.0 if seconds is not None and math.isinf(seconds) else seconds


def _keep_alive_value(column: float | None) -> float | None:
    return math.inf if column is not None and column < 0 else column


def _deployment(row: DeploymentRow) -> Deployment:
    defaults = parse_defaults(f"deployments.{row.name}.defaults", dict(row.defaults or {}))
    return Deployment(row.name, row.model, defaults, _keep_alive_value(row.keep_alive))


def defaults_table(defaults: GenerationDefaults) -> dict[str, Any]:
    """GenerationDefaults as the TOML / JSON table parse_defaults reads ("none" for no seed)."""
    table = {f.name: getattr(defaults, f.name) for f in fields(defaults)}
    table["stop"] = list(defaults.stop)
    table["seed"] = "none" if defaults.seed is None else defaults.seed
    return {name: value for name, value in table.items() if value is not None}


class Catalog:
    """The models and deployments tables."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    # Models ----------------------------------------------------------------------
    def add_model(self, model: CatalogModel) -> CatalogModel:
        if not model.id.strip() or model.id.startswith("/"):
            raise InvalidRequest("a model id is required", param="id")
        with self._sessions.begin() as session:
            if session.get(ModelRow, model.id) is not None:
                raise ModelExists(f"The model '{model.id}' already exists", param="id")
            values = model.as_dict()
            values.pop("created_at")
            values["keep_alive"] = _keep_alive_column(model.keep_alive)
            row = ModelRow(**values, created_at=utcnow())
            session.add(row)
            session.flush()
            return _model(row)

    def list_models(self) -> list[CatalogModel]:
        with self._sessions() as session:
            return [_model(row) for row in session.scalars(select(ModelRow).order_by(ModelRow.created_at))]

    def get_model(self, model_id: str) -> CatalogModel:
        with self._sessions() as session:
            row = session.get(ModelRow, model_id)
            if row is None:
                raise ModelNotFound(f"The model '{model_id}' is not in the catalog", param="model")
            return _model(row)

    def remove_model(self, model_id: str) -> None:
        with self._sessions.begin() as session:
            row = session.get(ModelRow, model_id)
            if row is None:
                raise ModelNotFound(f"The model '{model_id}' is not in the catalog", param="model")
            session.delete(row)

    def price(self, model_id: str) -> tuple[float, float]:
        """(input, output) price per million tokens; (0, 0) for a model not in the catalog."""
        with self._sessions() as session:
            row = session.get(ModelRow, model_id)
            if row is None:
                return (0.0, 0.0)
            return (row.input_price_per_million, row.output_price_per_million)

    # Deployments ---------------------------------------------------------------------
    def put_deployment(self, deployment: Deployment, *, create: bool | None = None) -> Deployment:
        """Creates (create=True: 409 if it exists), updates (False: 404 if not) or upserts (None)."""
        try:
            check_deployment_name(deployment.name)
        except DeploymentsFileError as exc:
            raise InvalidRequest(str(exc), param="name") from None
        with self._sessions.begin() as session:
            row = session.get(DeploymentRow, deployment.name)
            if row is not None and create is True:
                raise DeploymentExists(f"The deployment '{deployment.name}' already exists", param="name")
            if row is None and create is False:
                raise DeploymentNotFound(f"The deployment '{deployment.name}' does not exist")
            if row is None:
                row = DeploymentRow(name=deployment.name, created_at=utcnow())
                session.add(row)
            row.model = deployment.model
            row.defaults = defaults_table(deployment.defaults)
            row.keep_alive = _keep_alive_column(deployment.keep_alive)
            row.updated_at = utcnow()
            session.flush()
            return _deployment(row)

    def list_deployments(self) -> list[Deployment]:
        with self._sessions() as session:
            return [_deployment(row) for row in session.scalars(select(DeploymentRow).order_by(DeploymentRow.name))]

    def get_deployment(self, name: str) -> Deployment:
        with self._sessions() as session:
            row = session.get(DeploymentRow, name)
            if row is None:
                raise DeploymentNotFound(f"The deployment '{name}' does not exist")
            return _deployment(row)

    def delete_deployment(self, name: str) -> None:
        with self._sessions.begin() as session:
            row = session.get(DeploymentRow, name)
            if row is None:
                raise DeploymentNotFound(f"The deployment '{name}' does not exist")
            session.delete(row)


def updated_deployment(current: Deployment, changes: dict[str, Any]) -> Deployment:
    """current with changes applied: model, keep_alive (seconds), defaults (merged key by key)."""
    result = current
    if "model" in changes:
        result = replace(result, model=str(changes["model"]))
    if "keep_alive" in changes:
        result = replace(result, keep_alive=changes["keep_alive"])
    if "defaults" in changes:
        table = {**defaults_table(current.defaults), **changes["defaults"]}
        result = replace(result, defaults=parse_defaults(f"deployments.{current.name}.defaults", table))
    return result
