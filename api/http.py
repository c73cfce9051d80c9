"""API Gateway events in, Lambda proxy responses out; the one place errors become responses.

Reads HTTP API (payload 2.0) and REST API (payload 1.0) events, including base64-encoded bodies,
into a small `Request`. Every response, success or error, is JSON with the same CORS headers.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from dataclasses import dataclass, field
from typing import Any, Mapping

from .errors import ApiError, InvalidRequest, PayloadTooLarge
from .settings import MAX_BODY_BYTES

log = logging.getLogger(__name__)

CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type",
    "Access-Control-Max-Age": "600",
}
JSON_HEADERS = {"Content-Type": "application/json", **CORS_HEADERS}
# Keys of a direct (non-HTTP) invocation that is a prediction request in itself.
DIRECT_KEYS = ("image", "images", "instances")


@dataclass(frozen=True)
class Request:
    """What the handler needs of an event: method, path, lower-cased headers and the raw body."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes
    request_id: str = ""
    # Whether the event carried the body base64-encoded (binary-safe) rather than as text: a binary
    # body passed as text has lost every byte that was not UTF-8 (see api.inputs).
    base64_encoded: bool = False

    @property
    def media_type(self) -> str:
        """The Content-Type without parameters, lower-cased ('' when absent)."""
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()


@dataclass(frozen=True)
class Response:
    status: int
    payload: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)

    def to_event(self) -> dict[str, Any]:
        """The Lambda proxy integration response (valid for payload 1.0 and 2.0)."""
        body = "" if self.payload is None else json.dumps(self.payload, separators=(",", ":"), allow_nan=False)
        return {
            "statusCode": self.status,
            "headers": {**JSON_HEADERS, **self.headers},
            "body": body,
            "isBase64Encoded": False,
        }


def parse_event(event: Any, context: Any = None) -> Request:
    """The request an API Gateway event carries; raises InvalidRequest or PayloadTooLarge.

    API Gateway always sends well-formed events, but the function can be invoked directly with
    anything, so every field is type-checked: a malformed event is a 400, never a crash.
    """
    if not isinstance(event, dict):
        raise InvalidRequest("the event must be a JSON object (an API Gateway HTTP event)")
    request_id = getattr(context, "aws_request_id", "") or ""
    context_data = _object(event.get("requestContext"), "requestContext")
    if event.get("version") == "2.0" or "http" in context_data:
        http = _object(context_data.get("http"), "requestContext.http")
        method = _text(http.get("method"), "requestContext.http.method")
        path = _text(event.get("rawPath") or http.get("path"), "rawPath")
        stage = context_data.get("stage")
        if isinstance(stage, str) and stage and stage != "$default" and path.startswith(f"/{stage}/"):
            path = path[len(stage) + 1:]
    elif "httpMethod" in event:
        method, path = _text(event["httpMethod"], "httpMethod"), _text(event.get("path"), "path")
    elif any(key in event for key in DIRECT_KEYS):
        # `aws lambda invoke` / `serverless invoke --data '{"image": ...}'`: the event is the body.
        return Request("POST", "/predict", {"content-type": "application/json"}, _direct_body(event), request_id)
    else:
        raise InvalidRequest("the event is neither an API Gateway HTTP event nor a prediction request")
    headers = {str(k).lower(): str(v) for k, v in _object(event.get("headers"), "headers").items()}
    encoded = event.get("isBase64Encoded") is True
    body = _body(event.get("body"), encoded)
    return Request(method.upper(), "/" + path.strip("/"), headers, body,
                   request_id or str(context_data.get("requestId", "")), encoded)


def _object(value: Any, name: str) -> dict[str, Any]:
    """An optional object field of the event ({} when absent)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidRequest(f"the event's {name} must be an object")
    return value


def _text(value: Any, name: str) -> str:
    """An optional string field of the event ('' when absent)."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidRequest(f"the event's {name} must be a string")
    return value


def _direct_body(event: dict[str, Any]) -> bytes:
    """A direct invocation's event as the JSON body it stands for."""
    try:
        return json.dumps(event).encode()
    except (RecursionError, ValueError, TypeError):  # nested too deeply, or not JSON at all (in-process)
        raise InvalidRequest("the event cannot be read as a prediction request: it is not plain JSON "
                             "or is nested too deeply") from None


def _body(raw: Any, encoded: bool) -> bytes:
    if raw is None:
        return b""
    if not isinstance(raw, str):
        raise InvalidRequest("the event's body must be a string")
    # Checked before decoding: base64 is 4/3 of its content.
    if len(raw) > (MAX_BODY_BYTES * 4 // 3 + 4 if encoded else MAX_BODY_BYTES):
        raise PayloadTooLarge(f"the body is over the limit of {MAX_BODY_BYTES} bytes")
    if not encoded:
        return raw.encode("utf-8", errors="surrogatepass")  # a lone surrogate: invalid UTF-8, refused later
    try:
        body = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequest("the body is marked base64-encoded but is not base64") from None
    if len(body) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"the body is over the limit of {MAX_BODY_BYTES} bytes")
    return body


def error_response(exc: BaseException) -> Response:
    """The response for any exception: its status, code and message for API errors; a bare 500
    (details in the log only) for anything else."""
    if isinstance(exc, ApiError):
        return Response(exc.status, {"error": {"code": exc.code, "message": exc.message}}, exc.headers)
    log.exception("unexpected error", exc_info=exc)
    return Response(500, {"error": {"code": ApiError.code, "message": "internal error; it has been logged"}})
