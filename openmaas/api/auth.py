"""The server's API key: every inference route requires ``Authorization: Bearer <key>`` when one is set.

Routers are included with ``dependencies=[RequireApiKey]`` (see ``app.py``); a
route that needs to know who called declares ``caller: CallerDep`` instead.
Both run ``authenticate``, which raises ``Unauthorized`` (401, rendered in the
dialect of the route's path) for a missing or wrong key. Today there is one key
and no identity behind it; the control plane will check database keys here and
return the caller, keeping the same dependency.
"""

from __future__ import annotations

import hmac
import logging
from typing import Annotated

from fastapi import Depends, Request
from starlette.datastructures import Headers

from openmaas.errors import Unauthorized

logger = logging.getLogger(__name__)

# The standard header, and the spelling of the endpoint specification that some clients send.
AUTH_HEADERS = ("authorization", "autherization")


class ApiKeyVerifier:
    """Checks bearer tokens against the server's key; with no key, every request passes."""

    def __init__(self, api_key: str | None) -> None:
        # Bytes: compare_digest refuses non-ASCII str. Headers arrive decoded as Latin-1.
        self._key = api_key.encode() if api_key else None

    @property
    def is_open(self) -> bool:
        return self._key is None

    def verify(self, headers: Headers) -> None:
        """Raises Unauthorized unless one of the authorization headers carries the key."""
        if self._key is None:
            return
        tokens = [token for name in AUTH_HEADERS if (token := _bearer_token(headers.get(name))) is not None]
        if not tokens:
            raise Unauthorized("Missing API key: send the header 'Authorization: Bearer <key>'")
        # Every candidate is compared, each in constant time, so timing says nothing about a match.
        matches = [hmac.compare_digest(token.encode("latin-1"), self._key) for token in tokens]
        if not any(matches):
            raise Unauthorized("Incorrect API key provided")


def _bearer_token(value: str | None) -> str | None:
    if value is None:
        return None
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def authenticate(request: Request) -> None:
    """The caller's identity once keys have owners; None now. Raises Unauthorized (401)."""
    verifier: ApiKeyVerifier = request.app.state.api_key_verifier
    try:
        verifier.verify(request.headers)
    except Unauthorized as exc:
        # Never the key itself.
        logger.info("refused %s %s: %s", request.method, request.url.path, exc.message)
        raise


CallerDep = Annotated[None, Depends(authenticate)]
#: For include_router(..., dependencies=[RequireApiKey]) and APIRouter(dependencies=[RequireApiKey]).
RequireApiKey = Depends(authenticate)
