"""RequestContext: who is asking and through what, for the current HTTP request.

A pure ASGI middleware gives every HTTP request a context (its id from an
``X-Request-Id`` header, or a new one, echoed back in the answer); the auth
dependency and the deployment routes fill in the rest. Meters read it when
they are created, so the record of a call knows its key and deployment.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable, Collection
from contextvars import ContextVar
from dataclasses import dataclass, field

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from openmaas.errors import ModelNotFound
from openmaas.log import request_id_var

logger = logging.getLogger(__name__)

REQUEST_ID_HEADER = "X-Request-Id"
#: Seconds a call may generate for; past it, it ends as if its token limit were reached.
TIMEOUT_HEADER = "X-Request-Timeout"
# A client's own id is used when it is short and plain (it ends up in logs).
_CLIENT_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


@dataclass(slots=True)
class RequestContext:
    request_id: str
    # The API key's id and display prefix, once authenticated (never the secret).
    key_id: str | None = None
    key_prefix: str | None = None
    deployment: str | None = None
    # Seconds the call may generate for (its header, else the server's setting); None: no limit.
    timeout: float | None = None
    # The models (ids or deployment names) the key may use; None: every one.
    allowed_models: frozenset[str] | None = None
    # What the call holds until its HTTP request ends (a model lease, a call's account), run then, last first.
    _on_end: list[Callable[[], None]] = field(default_factory=list)

    def on_end(self, release: Callable[[], None]) -> None:
        """Runs release when the HTTP request ends (answer sent, stream over, or client gone), however it ends.

        Resources are released with their request's scope, not by finalizers: a streamed answer
        whose body never started still ends its HTTP request."""
        self._on_end.append(release)

    def end(self) -> None:
        """Runs the on_end callbacks (once each, last registered first); one failing does not stop the others."""
        while self._on_end:
            release = self._on_end.pop()
            try:
                release()
            except Exception:
                logger.exception("releasing a resource of request %s failed", self.request_id)

    def may_use(self, names: Collection[str]) -> bool:
        """Whether the caller's key may use the model with these names (its id and aliases) in this call.

        A key's allowed list names models by id or any alias, or names deployments: a deployment's
        model is usable through that deployment's routes only.
        """
        allowed = self.allowed_models
        if allowed is None or not allowed.isdisjoint(names):
            return True
        return self.deployment is not None and self.deployment in allowed

    def check_model(self, names: Collection[str], requested: str | None = None) -> None:
        """Raises ModelNotFound (404) unless the caller's key may use the model (see may_use).

        404, not 403, and the same message as for a model that does not exist (naming what the
        client asked for): a key learns nothing about the models it may not use."""
        if not self.may_use(names):
            model_id = requested if requested is not None else next(iter(names), "")
            raise ModelNotFound(f"The model '{model_id}' does not exist", param="model")


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


def _timeout(headers: dict[bytes, bytes], default: float | None) -> float | None:
    """The X-Request-Timeout header's seconds if it is a positive number, else the default."""
    sent = headers.get(TIMEOUT_HEADER.lower().encode())
    if sent is None:
        return default
    try:
        seconds = float(sent.decode("latin-1"))
    except ValueError:
        return default
    return seconds if 0 < seconds < float("inf") else default


class RequestContextMiddleware:
    """Starts a RequestContext for each HTTP request and answers with its X-Request-Id."""

    def __init__(self, app: ASGIApp, default_timeout: float | None = None) -> None:
        self._app = app
        self._default_timeout = default_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        sent = headers.get(REQUEST_ID_HEADER.lower().encode(), b"").decode("latin-1")
        request_id = sent if _CLIENT_ID.match(sent) else new_request_id()
        timeout = _timeout(headers, self._default_timeout)
        context = RequestContext(request_id=request_id, timeout=timeout)
        context_token = _current.set(context)
        id_token = request_id_var.set(request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        try:
            await self._app(scope, receive, send_with_id)
        finally:
            # What the call held: its model lease, its unused queue room, its account if nothing ended it.
            context.end()
            request_id_var.reset(id_token)
            _current.reset(context_token)
