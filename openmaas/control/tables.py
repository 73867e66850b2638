"""The control plane's tables for API keys and usage (the catalog's tables live beside their own code)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Boolean, Float, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from openmaas.control.db import Base, UtcDateTime, utcnow


class ApiKey(Base):
    """An API key: its SHA-256 hash and display prefix (the secret itself is never stored)."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    # The secret's first characters, shown in lists and records so people can tell keys apart.
    prefix: Mapped[str] = mapped_column(String(16))
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    # Model ids or deployment names the key may use; None: every one.
    allowed_models: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    max_requests_per_minute: Mapped[int | None] = mapped_column(Integer, nullable=True)
    max_tokens_per_minute: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # Prompt + completion tokens, and cost (in the prices' currency), allowed per budget period.
    max_budget_tokens: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    max_budget_cost: Mapped[float | None] = mapped_column(Float, nullable=True)
    # "day" or "month" (UTC calendar periods).
    budget_period: Mapped[str] = mapped_column(String(8), default="month")


class UsageRow(Base):
    """One API call: who, which model, how many tokens, how long, what it cost."""

    __tablename__ = "usage"
    __table_args__ = (
        Index("ix_usage_key_id_created_at", "key_id", "created_at"),
        Index("ix_usage_model_created_at", "model", "created_at"),
        Index("ix_usage_call_id", "call_id", unique=True),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(String(140))
    # When the call ended (UTC).
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    # No foreign key: the bootstrap key from the environment has an id but no row.
    key_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    key_prefix: Mapped[str | None] = mapped_column(String(16), nullable=True)
    model: Mapped[str] = mapped_column(String(200))
    deployment: Mapped[str | None] = mapped_column(String(200), nullable=True)
    dialect: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(64))
    num_prompt_tokens: Mapped[int] = mapped_column(Integer)
    num_cached_tokens: Mapped[int] = mapped_column(Integer)
    num_completion_tokens: Mapped[int] = mapped_column(Integer)
    # Seconds.
    time_to_first_token: Mapped[float | None] = mapped_column(Float, nullable=True)
    duration: Mapped[float] = mapped_column(Float)
    # Each choice's finish reason, comma-separated ("stop", "length,stop").
    finish_reason: Mapped[str] = mapped_column(String(200))
    cost: Mapped[float] = mapped_column(Float)
    # The server's own id of the call (unique; None on rows written before it existed): the journal's
    # replay after a crash inserts a row only if no row has its id.
    call_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
