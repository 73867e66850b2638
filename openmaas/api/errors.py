"""Turning every failure into the error shape of the dialect the client speaks.

Each dialect registers a renderer for the path prefix it serves; the
handlers below pick the renderer by path, so a 404 for an unknown route or a
body that fails validation still answers in the client's own dialect. A
dialect whose error shape depends on the client (the portal dialect answers
OpenAI's SDKs in OpenAI's shape) registers a chooser that reads the headers.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException

from openmaas.errors import (
    InvalidRequest,
    MethodNotAllowed,
    NotFound,
    OpenmaasError,
    PayloadTooLarge,
)

logger = logging.getLogger(__name__)

ErrorRenderer = Callable[[OpenmaasError], dict[str, Any]]
#: Picks a request's renderer from its headers.
RendererChooser = Callable[[Headers], ErrorRenderer]


def openai_error_body(exc: OpenmaasError) -> dict[str, Any]:
    """OpenAI's shape: {"error": {"message", "type", "param", "code"}}."""
    return {"error": {"message": exc.message, "type": exc.error_type, "param": exc.param, "code": exc.code}}


class ErrorRenderers:
    """Path prefix -> renderer; the longest matching prefix wins, OpenAI's shape otherwise."""

    def __init__(self) -> None:
        self._by_prefix: list[tuple[str, RendererChooser]] = []

    def register(self, prefix: str, renderer: ErrorRenderer) -> None:
        self.register_chooser(prefix, lambda _headers: renderer)

    def register_chooser(self, prefix: str, choose: RendererChooser) -> None:
        """For a dialect whose error shape depends on the request's headers."""
        self._by_prefix.append((prefix, choose))
        self._by_prefix.sort(key=lambda item: len(item[0]), reverse=True)

    def for_path(self, path: str, headers: Headers | None = None) -> ErrorRenderer:
        for prefix, choose in self._by_prefix:
            if path.startswith(prefix):
                return choose(headers if headers is not None else Headers())
        return openai_error_body


def error_response(
    renderers: ErrorRenderers, path: str, exc: OpenmaasError, request_headers: Headers | None = None
) -> JSONResponse:
    headers = {}
    if exc.retry_after is not None:
        headers["Retry-After"] = str(max(1, round(exc.retry_after)))
    body = renderers.for_path(path, request_headers)(exc)
    return JSONResponse(body, status_code=exc.http_status, headers=headers)


_TYPE_TAG = re.compile(r"^(str|int|float|bool|list\[.*\]|dict\[.*\]|function-.*|literal\[.*\])$")


def _is_type_tag(part: object) -> bool:
    return isinstance(part, str) and bool(_TYPE_TAG.match(part))


def _validation_error(exc: RequestValidationError) -> InvalidRequest:
    errors = exc.errors()
    if not errors:
        return InvalidRequest("invalid request body")
    first = errors[0]
    # pydantic names the member of a union it tried ("prompt.str"): not a field.
    location = [str(part) for part in first.get("loc", ()) if part != "body" and not _is_type_tag(part)]
    param = ".".join(location) or None
    if first.get("type") == "json_invalid":
        return InvalidRequest("the request body is not valid JSON")
    message = first.get("msg", "invalid value")
    return InvalidRequest(f"{param}: {message}" if param else message, param=param)


def _http_error(exc: StarletteHTTPException) -> OpenmaasError:
    if exc.status_code == 404:
        return NotFound("no such route")
    if exc.status_code == 405:
        return MethodNotAllowed("method not allowed on this route")
    if exc.status_code == 413:
        return PayloadTooLarge(str(exc.detail))
    if exc.status_code == 400:
        # Starlette's own 400s are bodies it could not parse (bad UTF-8, JSON nested too deep): the client's.
        return InvalidRequest("the request body could not be parsed as JSON (invalid UTF-8, or nested too deeply)")
    error = OpenmaasError(str(exc.detail))
    error.http_status = exc.status_code
    return error


def install_error_handlers(app: FastAPI, renderers: ErrorRenderers) -> None:
    @app.exception_handler(OpenmaasError)
    async def _openmaas(request: Request, exc: OpenmaasError) -> JSONResponse:
        return error_response(renderers, request.url.path, exc, request.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(renderers, request.url.path, _validation_error(exc), request.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_response(renderers, request.url.path, _http_error(exc), request.headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error on %s", request.url.path)
        error = OpenmaasError("internal error; see the server log")
        return error_response(renderers, request.url.path, error, request.headers)
