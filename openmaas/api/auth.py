"""API keys on every inference and admin route: who is calling, and may they.

Routers are included with ``dependencies=[RequireApiKey]`` (inference) or
``[RequireAdminKey]`` (``/api/admin/*``; see ``app.py``). Both run the app's
``Authenticator``: 401 (``Unauthorized``) for a missing or unknown key, 403
(``Forbidden``) for a revoked or expired key or an inference key on an admin
route, 429 (``RateLimited``, with ``Retry-After``) for a key over its requests
or tokens per minute or its budget; each rendered in the dialect of the route's
path. The caller's key id, display prefix and allowed models go into the request
context, so usage records name them and serving code can check the model.

Keys are looked up by the SHA-256 of the bearer token (an indexed lookup that
reveals nothing about the secret), then compared in constant time; a found key
is cached for ``cache_ttl`` seconds (a revocation through the admin API clears
it at once; one through the CLI takes effect within that time). The
``OPENMAAS_API_KEY`` bootstrap key is an admin key with no row and no limits.
Keys are never logged.
"""

from __future__ import annotations

import hmac
import logging
import time
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Annotated

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers

from openmaas.api.context import current_request
from openmaas.api.metering import RequestRecord
from openmaas.control.db import utcnow
from openmaas.control.keys import KeyStore, display_prefix, hash_secret
from openmaas.control.quotas import Quota, QuotaTracker, SharedQuotas
from openmaas.control.tables import ApiKey
from openmaas.control.usage import UsageQueries
from openmaas.errors import Forbidden, Unauthorized

logger = logging.getLogger(__name__)

# The standard header, and the spelling of the endpoint specification that some clients send.
AUTH_HEADERS = ("authorization", "autherization")
BOOTSTRAP_KEY_ID = "env"


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated key (never its secret)."""

    key_id: str
    key_prefix: str
    is_admin: bool
    allowed_models: frozenset[str] | None
    quota: Quota
    expires_at: datetime | None = None
    revoked_at: datetime | None = None

    @classmethod
    def from_row(cls, key: ApiKey) -> Caller:
        return cls(
            key_id=key.id,
            key_prefix=key.prefix,
            is_admin=key.is_admin,
            allowed_models=frozenset(key.allowed_models) if key.allowed_models is not None else None,
            quota=Quota(
                max_requests_per_minute=key.max_requests_per_minute,
                max_tokens_per_minute=key.max_tokens_per_minute,
                max_budget_tokens=key.max_budget_tokens,
                max_budget_cost=key.max_budget_cost,
                budget_period=key.budget_period,
            ),
            expires_at=key.expires_at,
            revoked_at=key.revoked_at,
        )


class Authenticator:
    """Checks bearer tokens against the key store (and the bootstrap key); enforces each key's quota."""

    def __init__(
        self,
        keys: KeyStore | None,
        usage: UsageQueries | None,
        *,
        bootstrap_key: str | None = None,
        is_disabled: bool = False,
        cache_ttl: float = 10.0,
        shared_quotas: SharedQuotas | None = None,
    ) -> None:
        """shared_quotas: counters shared with other server processes (cluster mode); None: this process's."""
        self._keys = keys
        self._usage = usage
        # Bytes: compare_digest refuses non-ASCII str.
        self._bootstrap_hash = hash_secret(bootstrap_key).encode() if bootstrap_key else None
        self._bootstrap = (
            Caller(BOOTSTRAP_KEY_ID, display_prefix(bootstrap_key), True, None, Quota()) if bootstrap_key else None
        )
        self.is_disabled = is_disabled
        self._cache_ttl = cache_ttl
        # secret hash -> (monotonic time read, caller)
        self._cache: dict[str, tuple[float, Caller]] = {}
        self.quotas = QuotaTracker(time.monotonic, utcnow)
        self._shared_quotas = shared_quotas

    async def authenticate(self, headers: Headers) -> Caller | None:
        """The caller, or None when auth is off. Raises Unauthorized (401) or Forbidden (403)."""
        if self.is_disabled:
            return None
        tokens = [token for name in AUTH_HEADERS if (token := _bearer_token(headers.get(name))) is not None]
        if not tokens:
            raise Unauthorized("Missing API key: send the header 'Authorization: Bearer <key>'")
        for token in tokens:
            caller = await self._find(hash_secret(token))
            if caller is not None:
                return _usable(caller)
        raise Unauthorized("Incorrect API key provided")

    async def admit(self, caller: Caller) -> None:
        """Counts the request against the key's quota; RateLimited (429) when over it."""
        if self._shared_quotas is not None:
            if not caller.quota.is_unlimited:
                await self._shared_quotas.admit(caller.key_id, caller.quota, partial(self._spend_since, caller.key_id))
            return
        period_start = self.quotas.needs_load(caller.key_id, caller.quota)
        if period_start is not None and self._usage is not None:
            tokens, cost = await run_in_threadpool(self._usage.totals_since, caller.key_id, period_start)
            self.quotas.load(caller.key_id, period_start, tokens, cost)
        self.quotas.admit(caller.key_id, caller.quota)

    async def _spend_since(self, key_id: str, period_start: datetime) -> tuple[int, float]:
        if self._usage is None:
            return (0, 0.0)
        return await run_in_threadpool(self._usage.totals_since, key_id, period_start)

    def record(self, record: RequestRecord, cost: float) -> None:
        if record.key_id is not None:
            quotas: QuotaTracker | SharedQuotas = self._shared_quotas or self.quotas
            quotas.record(record.key_id, record.num_prompt_tokens + record.num_completion_tokens, cost)

    def forget(self, key_id: str) -> None:
        """Drops a key from the cache (after a revocation)."""
        self._cache = {digest: entry for digest, entry in self._cache.items() if entry[1].key_id != key_id}

    async def _find(self, digest: str) -> Caller | None:
        if self._bootstrap_hash is not None and hmac.compare_digest(digest.encode(), self._bootstrap_hash):
            return self._bootstrap
        now = time.monotonic()
        cached = self._cache.get(digest)
        if cached is not None and now - cached[0] < self._cache_ttl:
            return cached[1]
        if self._keys is None:
            return None
        row = await run_in_threadpool(self._keys.find_by_hash, digest)
        if row is None or not hmac.compare_digest(row.secret_hash.encode(), digest.encode()):
            return None
        caller = Caller.from_row(row)
        self._cache[digest] = (now, caller)
        return caller


def _usable(caller: Caller) -> Caller:
    if caller.revoked_at is not None:
        raise Forbidden("This API key was revoked")
    if caller.expires_at is not None and caller.expires_at <= utcnow():
        raise Forbidden("This API key has expired")
    return caller


def _bearer_token(value: str | None) -> str | None:
    if value is None:
        return None
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    # Header values arrive decoded as Latin-1: a key that is not ASCII travels as its UTF-8 bytes.
    try:
        return token.strip().encode("latin-1").decode("utf-8")
    except UnicodeError:
        return token.strip()


async def _authenticated(request: Request) -> Caller | None:
    authenticator: Authenticator = request.app.state.authenticator
    try:
        caller = await authenticator.authenticate(request.headers)
    except (Unauthorized, Forbidden) as exc:
        # Never the key itself.
        logger.info("refused %s %s: %s", request.method, request.url.path, exc.message)
        raise
    if caller is not None:
        context = current_request()
        context.key_id = caller.key_id
        context.key_prefix = caller.key_prefix
        context.allowed_models = caller.allowed_models
    return caller


async def authenticate(request: Request) -> Caller | None:
    """An inference call: a usable key within its quota (None when auth is off)."""
    caller = await _authenticated(request)
    if caller is not None:
        authenticator: Authenticator = request.app.state.authenticator
        await authenticator.admit(caller)
    return caller


async def authenticate_key(request: Request) -> Caller | None:
    """A console call: any usable key (None when auth is off). It reads the key's own data, so no quota is counted."""
    return await _authenticated(request)


async def authenticate_admin(request: Request) -> Caller | None:
    """An admin call: a usable admin key (None when auth is off). Admin calls count against no quota."""
    caller = await _authenticated(request)
    if caller is not None and not caller.is_admin:
        raise Forbidden("This route needs an admin key")
    return caller


CallerDep = Annotated[Caller | None, Depends(authenticate)]
AdminDep = Annotated[Caller | None, Depends(authenticate_admin)]
KeyDep = Annotated[Caller | None, Depends(authenticate_key)]
#: For include_router(..., dependencies=[RequireApiKey]) and APIRouter(dependencies=[RequireApiKey]).
RequireApiKey = Depends(authenticate)
RequireAdminKey = Depends(authenticate_admin)
