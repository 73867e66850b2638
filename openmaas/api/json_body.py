"""Large JSON bodies are parsed off the event loop.

FastAPI parses a route's JSON body with ``json.loads`` on the event loop: for a body
of several megabytes (a long prompt, up to ``OPENMAAS_MAX_REQUEST_BYTES``) that is
tens of milliseconds during which no other request, stream or health probe is served.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

# Below this, parsing takes less than a hop to a worker thread would.
THREAD_PARSE_BYTES = 64 * 1024


class ThreadedJsonRoute(APIRoute):
    """An APIRoute whose JSON body, when large, is parsed in a worker thread before FastAPI reads it.

    Starlette's ``Request.json()`` returns what it parsed before (``_json``), so FastAPI's own
    body handling, validation and errors are unchanged. A body that fails to parse here is left
    to FastAPI, which then answers its usual error.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def parse_then_handle(request: Request) -> Response:
            body = await request.body()
            if len(body) > THREAD_PARSE_BYTES:
                try:
                    request._json = await asyncio.to_thread(json.loads, body)
                except (ValueError, RecursionError):  # not JSON, not UTF-8, too deep: FastAPI says so
                    pass
            return await handler(request)

        return parse_then_handle
