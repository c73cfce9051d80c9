"""The API's domain errors: raised where a problem is found, turned into a response in one place.

Each error knows its HTTP status and a stable machine-readable `code`; its message is written for
the caller and never holds a stack trace, a file path or a credential.
"""

from __future__ import annotations

from collections.abc import Mapping


class ApiError(Exception):
    """Base of every error the API answers with; `status` and `code` go to the response."""

    status = 500
    code = "internal_error"

    def __init__(self, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers: dict[str, str] = dict(headers or {})


class InvalidRequest(ApiError):
    """Bad JSON, wrong shape or values, an undecodable image."""

    status = 400
    code = "invalid_request"


class NotFound(ApiError):
    """No route at this path."""

    status = 404
    code = "not_found"


class MethodNotAllowed(ApiError):
    """The path exists but not for this method; `Allow` lists the ones it has."""

    status = 405
    code = "method_not_allowed"

    def __init__(self, method: str, allowed: tuple[str, ...]) -> None:
        super().__init__(f"{method} is not allowed here; use {', '.join(allowed)}", {"Allow": ", ".join(allowed)})


class PayloadTooLarge(ApiError):
    """The body, the batch or an image is over one of the documented limits."""

    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(ApiError):
    """A Content-Type the API does not read."""

    status = 415
    code = "unsupported_media_type"


class ModelUnavailable(ApiError):
    """The model could not be loaded (yet); the caller should retry after `retry_after` seconds."""

    status = 503
    code = "model_unavailable"

    def __init__(self, message: str, retry_after: int) -> None:
        self.retry_after = max(1, int(retry_after))
        super().__init__(message, {"Retry-After": str(self.retry_after)})
