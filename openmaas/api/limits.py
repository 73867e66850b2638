"""Request body size limit, checked before the body is read."""

from __future__ import annotations

from collections.abc import Callable

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from openmaas.errors import OpenmaasError, PayloadTooLarge


class BodySizeLimit:
    """Refuses bodies over max_bytes with 413, by Content-Length or while streaming in."""

    def __init__(
        self, app: ASGIApp, max_bytes: int, render: Callable[[str, OpenmaasError], Response]
    ) -> None:
        self._app = app
        self._max_bytes = max_bytes
        self._render = render

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > self._max_bytes:
                # Out here no exception handler runs: answer directly.
                error = PayloadTooLarge(f"request body over {self._max_bytes} bytes")
                await self._render(scope["path"], error)(scope, receive, send)
                return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self._max_bytes:  # chunked upload: the route's handler renders it
                    raise PayloadTooLarge(f"request body over {self._max_bytes} bytes")
            return message

        await self._app(scope, counting_receive, send)
