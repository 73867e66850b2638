"""Server-sent events framing and the disconnect-aware helpers around streaming."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable
from typing import Any, TypeVar

from fastapi import Request

from openmaas.errors import OpenmaasError

T = TypeVar("T")
logger = logging.getLogger(__name__)

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
DONE = "data: [DONE]\n\n"


def sse_data(payload: dict[str, Any]) -> str:
    return f"data: {json.dumps(payload, ensure_ascii=False, separators=(',', ':'))}\n\n"


class ClientDisconnected(OpenmaasError):
    """The client went away before its answer was ready; nobody reads the response."""

    code = "client_disconnected"
    http_status = 499


def stream_error(exc: Exception) -> OpenmaasError:
    """The error to report inside a stream that has already started."""
    if isinstance(exc, OpenmaasError):
        return exc
    logger.exception("error while streaming", exc_info=exc)
    return OpenmaasError("internal error while streaming; see the server log")


async def until_disconnected(request: Request, work: Awaitable[T]) -> T:
    """Awaits work, cancelling it (and so aborting its generation) if the client disconnects."""
    task = asyncio.ensure_future(work)

    async def wait_for_disconnect() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass

    watcher = asyncio.ensure_future(wait_for_disconnect())
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watcher.cancel()
        if not task.done():
            task.cancel()
            # A cancelled task is only done once it has run its cleanup: wait for that, so the
            # generation is aborted and the caller sees ClientDisconnected, not an unfinished task.
            with contextlib.suppress(asyncio.CancelledError):
                await task
    if task.cancelled():
        raise ClientDisconnected("client disconnected")
    return task.result()
