"""CORS on the API routes, for browser apps served from other origins (OPENMAAS_CORS_ORIGINS).

Starlette's CORSMiddleware answers preflights and adds the headers, for every
dialect's routes alike. The console's pages are left out: they are meant for this
origin only (their Content-Security-Policy is 'self'), and nothing on another
origin needs to read them. Keys travel as ``Authorization: Bearer``, which a
preflight allows explicitly; cookies are never needed, so credentials are
allowed only for a list of origins, never with ``*`` (which would let any site
send a browser's cookies).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

ALL_ORIGINS = "*"
ALLOWED_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
# Response headers a page may read besides the CORS-safelisted ones.
EXPOSED_HEADERS = ("X-Request-Id", "Retry-After")
# Seconds a browser may cache a preflight's answer.
PREFLIGHT_MAX_AGE = 600


class ApiCors:
    """CORSMiddleware for every path except those ``is_excluded`` names (the console's pages)."""

    def __init__(self, app: ASGIApp, origins: Sequence[str], is_excluded: Callable[[str], bool]) -> None:
        self._app = app
        self._is_excluded = is_excluded
        allow_all = ALL_ORIGINS in origins
        self._cors = CORSMiddleware(
            app,
            allow_origins=[ALL_ORIGINS] if allow_all else list(origins),
            allow_methods=ALLOWED_METHODS,
            # Mirrors what a preflight asks for (Authorization, Content-Type, the SDKs' X-Stainless-*).
            allow_headers=["*"],
            allow_credentials=not allow_all,
            expose_headers=EXPOSED_HEADERS,
            max_age=PREFLIGHT_MAX_AGE,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not self._is_excluded(scope["path"]):
            await self._cors(scope, receive, send)
        else:
            await self._app(scope, receive, send)
