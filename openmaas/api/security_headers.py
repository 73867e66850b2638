"""Headers every answer carries, whatever produced it (a route, an error handler, /static, a middleware)."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Browsers must take each answer as the type it declares: a JSON error echoing client text, or a
# static file, is never run as a script or rendered as a page because its bytes look like one.
HEADERS = {"X-Content-Type-Options": "nosniff"}


class SecurityHeaders:
    """Adds HEADERS to every HTTP answer (a pure ASGI middleware, so streamed bodies pass untouched)."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in HEADERS.items():
                    headers[name] = value
            await send(message)

        await self._app(scope, receive, send_with_headers)
