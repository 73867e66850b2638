"""The error tree of openmaas.

Code raises these and never returns error objects; each API dialect has one
renderer that turns them into its own wire shape. Standard library only, so
every layer (the engine included) may import it.
"""

from __future__ import annotations


class OpenmaasError(Exception):
    """Base of every error a client may see.

    ``code`` is stable and machine-readable, ``http_status`` is what the HTTP
    layer answers with, ``error_type`` is OpenAI's ``error.type``, and
    ``param`` names the offending request field when there is one.
    """

    code: str = "internal_error"
    http_status: int = 500
    error_type: str = "server_error"

    def __init__(self, message: str, *, param: str | None = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.retry_after = retry_after


class InvalidRequest(OpenmaasError):
    code = "invalid_request"
    http_status = 400
    error_type = "invalid_request_error"


class ContextLengthExceeded(InvalidRequest):
    code = "context_length_exceeded"


class PayloadTooLarge(OpenmaasError):
    code = "payload_too_large"
    http_status = 413
    error_type = "invalid_request_error"


class Unauthorized(OpenmaasError):
    code = "invalid_api_key"
    http_status = 401
    error_type = "authentication_error"


class Forbidden(OpenmaasError):
    code = "permission_denied"
    http_status = 403
    error_type = "permission_error"


class NotFound(OpenmaasError):
    code = "not_found"
    http_status = 404
    error_type = "invalid_request_error"


class MethodNotAllowed(OpenmaasError):
    code = "method_not_allowed"
    http_status = 405
    error_type = "invalid_request_error"


class ModelNotFound(NotFound):
    code = "model_not_found"


class Conflict(OpenmaasError):
    """The request clashes with the current state (a request_id still running, a key's store full)."""

    code = "conflict"
    http_status = 409
    error_type = "invalid_request_error"


class RateLimited(OpenmaasError):
    code = "rate_limit_exceeded"
    http_status = 429
    error_type = "rate_limit_error"


class QueueFull(RateLimited):
    """A model's queue is at its cap: refused at once rather than left to wait without bound."""

    code = "queue_full"


class Overloaded(OpenmaasError):
    code = "overloaded"
    http_status = 503
    error_type = "server_error"


class ShuttingDown(Overloaded):
    """The server is draining before it stops: it takes no new work."""

    code = "shutting_down"


class EngineDead(Overloaded):
    code = "engine_unavailable"


class EngineFailed(OpenmaasError):
    """The engine failed while generating (a step raised): the server's fault, not a sign of load."""

    code = "engine_error"


class ModelLoadFailed(OpenmaasError):
    """A model could not be loaded (its file is unreadable, or its configuration does not fit it):
    the server's configuration is at fault, not the request."""

    code = "model_load_failed"
