"""RequestContext: who is asking and through what, for the current HTTP request.

A pure ASGI middleware gives every HTTP request a context (its id from an
``X-Request-Id`` header, or a new one, echoed back in the answer); the auth
dependency and the deployment routes fill in the rest. Meters read it when
they are created, so the record of a call knows its key and deployment.
"""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar
from dataclasses import dataclass

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from openmaas.log import request_id_var

REQUEST_ID_HEADER = "X-Request-Id"
# A client's own id is used when it is short and plain (it ends up in logs).
_CLIENT_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


@dataclass(slots=True)
class RequestContext:
    request_id: str
    # The API key's id and display prefix, once authenticated (never the secret).
    key_id: str | None = None
    key_prefix: str | None = None
    deployment: str | None = None


_current: ContextVar[RequestContext | None] = ContextVar("openmaas_request_context", default=None)


def current_request() -> RequestContext:
    """The current request's context (a fresh one outside an HTTP request)."""
    context = _current.get()
    if context is None:
        context = RequestContext(request_id=new_request_id())
        _current.set(context)
    return context


def new_request_id() -> str:
    return f"req-{uuid.uuid4().hex}"


class RequestContextMiddleware:
    """Starts a RequestContext for each HTTP request and answers with its X-Request-Id."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        sent = dict(scope.get("headers") or []).get(REQUEST_ID_HEADER.lower().encode(), b"").decode("latin-1")
        request_id = sent if _CLIENT_ID.match(sent) else new_request_id()
        context_token = _current.set(RequestContext(request_id=request_id))
        id_token = request_id_var.set(request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        try:
            await self._app(scope, receive, send_with_id)
        finally:
            request_id_var.reset(id_token)
            _current.reset(context_token)
