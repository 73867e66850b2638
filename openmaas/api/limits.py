"""Request body size limit, enforced before the body reaches a route."""

from __future__ import annotations

from collections.abc import Callable

from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from openmaas.errors import OpenmaasError, PayloadTooLarge


class BodySizeLimit:
    """Refuses bodies over max_bytes with 413 in the client's dialect.

    A Content-Length over the limit is refused at once. A body without one
    (chunked) is read here up to the limit and then replayed to the app, so
    the 413 can still be answered before any route runs.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, render: Callable[[str, OpenmaasError, Headers], Response]) -> None:
        self._app = app
        self._max_bytes = max_bytes
        self._render = render

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        length = dict(scope.get("headers", [])).get(b"content-length")
        if length is not None:
            if length.isdigit() and int(length) > self._max_bytes:
                await self._refuse(scope, receive, send)
                return
            await self._app(scope, receive, send)
            return
        messages: list[Message] = []
        received = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            received += len(message.get("body", b""))
            if received > self._max_bytes:
                await self._refuse(scope, receive, send)
                return
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self._app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        error = PayloadTooLarge(f"request body over {self._max_bytes} bytes")
        await self._render(scope["path"], error, Headers(scope=scope))(scope, receive, send)
