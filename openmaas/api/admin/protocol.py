"""Wire models of the admin API: a schema family per resource (KeyCreate / KeyPublic / KeysPublic)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from openmaas.control.db import MAX_BIG_INTEGER, MAX_INTEGER
from openmaas.control.keys import KeySpec
from openmaas.control.tables import ApiKey


class KeyCreate(BaseModel):
    name: str = Field("", max_length=200)
    is_admin: bool = False
    expires_at: datetime | None = None
    allowed_models: list[str] | None = None
    max_requests_per_minute: int | None = Field(None, ge=0, le=MAX_INTEGER)
    max_tokens_per_minute: int | None = Field(None, ge=0, le=MAX_INTEGER)
    max_budget_tokens: int | None = Field(None, ge=0, le=MAX_BIG_INTEGER)
    max_budget_cost: float | None = Field(None, ge=0, allow_inf_nan=False)
    budget_period: Literal["day", "month"] = "month"

    def to_spec(self) -> KeySpec:
        return KeySpec(**self.model_dump())


class KeyPublic(BaseModel):
    """A key as listed: its display prefix, never its secret or hash."""

    id: str
    object: Literal["api_key"] = "api_key"
    name: str
    prefix: str
    is_admin: bool
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    allowed_models: list[str] | None
    max_requests_per_minute: int | None
    max_tokens_per_minute: int | None
    max_budget_tokens: int | None
    max_budget_cost: float | None
    budget_period: str
    # When the key's latest call ended; None: never used (it is read from the usage rows, not the key's row).
    last_used_at: datetime | None = None

    @classmethod
    def from_row(cls, key: ApiKey, last_used_at: datetime | None = None) -> KeyPublic:
        public = cls.model_validate(key, from_attributes=True)
        return public.model_copy(update={"last_used_at": last_used_at})


class KeyCreated(KeyPublic):
    """The answer to a create: the only time the secret is shown."""

    key: str


class KeysPublic(BaseModel):
    object: Literal["list"] = "list"
    data: list[KeyPublic]
    count: int
