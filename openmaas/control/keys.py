"""KeyStore: create, list, find and revoke API keys in the control-plane database.

A secret is ``om-`` followed by 43 URL-safe characters (256 random bits). Only its
SHA-256 hash and a display prefix (its first 11 characters) are stored; the
secret is returned once, by ``create``. A fast hash is enough for secrets this
random (nothing to brute-force), and it lets a key be found by an indexed lookup.
"""

from __future__ import annotations

import hashlib
import math
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from openmaas.control.db import MAX_BIG_INTEGER, MAX_INTEGER, utcnow
from openmaas.control.tables import ApiKey
from openmaas.errors import InvalidRequest, NotFound

SECRET_PREFIX = "om-"
DISPLAY_PREFIX_LEN = 11
BUDGET_PERIODS = ("day", "month")


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogateescape")).hexdigest()


def display_prefix(secret: str) -> str:
    return secret[:DISPLAY_PREFIX_LEN]


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


@dataclass(frozen=True, slots=True)
class KeySpec:
    """What a new key may do; None: no limit."""

    name: str = ""
    is_admin: bool = False
    expires_at: datetime | None = None
    allowed_models: Sequence[str] | None = None
    max_requests_per_minute: int | None = None
    max_tokens_per_minute: int | None = None
    max_budget_tokens: int | None = None
    max_budget_cost: float | None = None
    budget_period: str = "month"

    def validate(self) -> None:
        if self.budget_period not in BUDGET_PERIODS:
            raise InvalidRequest(f"budget_period must be one of {', '.join(BUDGET_PERIODS)}", param="budget_period")
        # The columns' ranges (tables.py), so the CLI gets the same 400 as the admin API's wire model.
        limits = {
            "max_requests_per_minute": MAX_INTEGER,
            "max_tokens_per_minute": MAX_INTEGER,
            "max_budget_tokens": MAX_BIG_INTEGER,
            "max_budget_cost": math.inf,
        }
        for name, largest in limits.items():
            value = getattr(self, name)
            if value is not None and not 0 <= value <= largest:
                raise InvalidRequest(f"{name} must be between 0 and {largest}", param=name)
        if self.expires_at is not None and self.expires_at.tzinfo is None:
            raise InvalidRequest("expires_at needs a timezone (UTC: end it with Z)", param="expires_at")


class KeyStore:
    """API keys in the database."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def create(self, spec: KeySpec, secret: str | None = None) -> tuple[ApiKey, str]:
        """Stores a new key; returns it and its secret (the only time the secret is seen)."""
        spec.validate()
        secret = secret or new_secret()
        key = ApiKey(
            id=f"key_{uuid.uuid4().hex[:24]}",
            name=spec.name,
            prefix=display_prefix(secret),
            secret_hash=hash_secret(secret),
            is_admin=spec.is_admin,
            created_at=utcnow(),
            expires_at=spec.expires_at,
            allowed_models=list(spec.allowed_models) if spec.allowed_models is not None else None,
            max_requests_per_minute=spec.max_requests_per_minute,
            max_tokens_per_minute=spec.max_tokens_per_minute,
            max_budget_tokens=spec.max_budget_tokens,
            max_budget_cost=spec.max_budget_cost,
            budget_period=spec.budget_period,
        )
        with self._sessions.begin() as session:
            session.add(key)
        return key, secret

    def list(self, include_revoked: bool = True) -> list[ApiKey]:
        query = select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)
        if not include_revoked:
            query = query.where(ApiKey.revoked_at.is_(None))
        with self._sessions() as session:
            return list(session.scalars(query))

    def count(self) -> int:
        with self._sessions() as session:
            return session.scalar(select(func.count()).select_from(ApiKey)) or 0

    def get(self, key_id: str) -> ApiKey:
        with self._sessions() as session:
            key = session.get(ApiKey, key_id)
        if key is None:
            raise NotFound(f"No API key with id {key_id!r}")
        return key

    def find_by_hash(self, secret_hash: str) -> ApiKey | None:
        with self._sessions() as session:
            return session.scalar(select(ApiKey).where(ApiKey.secret_hash == secret_hash))

    def revoke(self, key_id: str) -> ApiKey:
        """Marks the key revoked (kept, so usage rows still name it); revoking twice keeps the first time."""
        with self._sessions.begin() as session:
            key = session.get(ApiKey, key_id)
            if key is None:
                raise NotFound(f"No API key with id {key_id!r}")
            if key.revoked_at is None:
                key.revoked_at = utcnow()
        return key
