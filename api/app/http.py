"""API Gateway events in, Lambda proxy responses out; the one place errors become responses.

Reads HTTP API (payload 2.0) and REST API (payload 1.0) events, including base64-encoded bodies,
into a small `Request`. Every response carries the same CORS headers; it is JSON, raw bytes
(base64-encoded in the event, as API Gateway expects) with their own Content-Type, or the drawing
page's text (`Response.raw`).

Errors take one of two shapes, chosen by the route (`ErrorStyle`): the API's own
`{"error": {"code", "message"}}`, or the Open Inference Protocol's `{"error": "message"}` on `/v2`."""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import orjson

from api.errors import ApiError, InvalidRequest, PayloadTooLarge
from api.runtime.settings import MAX_BODY_BYTES

log = logging.getLogger(__name__)

CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
    # The Open Inference Protocol's binary extension sends and answers this header.
    "Access-Control-Allow-Headers": "Content-Type, Inference-Header-Content-Length",
    "Access-Control-Expose-Headers": "Inference-Header-Content-Length",
    "Access-Control-Max-Age": "600",
}
JSON_HEADERS = {"Content-Type": "application/json", **CORS_HEADERS}
# U+FFFD in UTF-8: what every byte that is not UTF-8 becomes when binary data is decoded as text.
REPLACEMENT = "\ufffd".encode()
# Keys of a direct (non-HTTP) invocation that is a prediction request in itself.
DIRECT_KEYS = ("image", "images", "instances")
# 19 digits in a row (after every digit is made a 0): perhaps an integer beyond 64 bits (2**63 has
# 19), which only `json` reads as one. A translate and a substring search: ~20x faster than a regex.
_ZEROED_DIGITS = bytes.maketrans(b"123456789", b"0" * 9)
_LONG_NUMBER = b"0" * 19


class ErrorStyle(Enum):
    """How a route's errors look: the API's own shape, or the Open Inference Protocol's."""

    API = "api"
    OIP = "oip"


@dataclass(frozen=True)
class Request:
    """What the handler needs of an event: method, path, lower-cased headers, the raw body and the
    query parameters."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes
    request_id: str = ""
    # Whether the event carried the body base64-encoded (binary-safe) rather than as text: a binary
    # body passed as text has lost every byte that was not UTF-8 (see api.app.inputs).
    base64_encoded: bool = False
    query: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, str] = field(default_factory=dict)  # the route's path parameters

    @property
    def media_type(self) -> str:
        """The Content-Type without parameters, lower-cased ('' when absent)."""
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()


@dataclass(frozen=True)
class Response:
    """A status and a payload: JSON-able (None: no body), or bytes (whose Content-Type goes in
    `headers`); `raw` is a text body sent as it is instead (its Content-Type set in `headers`)."""

    status: int
    payload: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    raw: str | None = None
    error: str = ""  # the error's code, for the request log

    def to_event(self) -> dict[str, Any]:
        """The Lambda proxy integration response (valid for payload 1.0 and 2.0)."""
        encoded = self.raw is None and isinstance(self.payload, bytes)
        if self.raw is not None:
            body = self.raw
        elif encoded:
            body = base64.b64encode(self.payload).decode("ascii")
        else:
            body = "" if self.payload is None else dumps(self.payload)
        return {
            "statusCode": self.status,
            "headers": {**JSON_HEADERS, **self.headers},
            "body": body,
            "isBase64Encoded": encoded,
        }


def dumps(document: Any) -> str:
    """Compact JSON text of `document`: orjson's (a tenth of `json`'s time), or `json`'s for what orjson
    refuses (lone surrogates from a caller's path or header, integers beyond 64 bits)."""
    try:
        return orjson.dumps(document).decode()
    except TypeError:
        return json.dumps(document, separators=(",", ":"), allow_nan=False)


def parse_event(event: Any, context: Any = None) -> Request:
    """The request an API Gateway event carries; raises InvalidRequest or PayloadTooLarge."""
    if not isinstance(event, dict):
        raise InvalidRequest("the event must be a JSON object (an API Gateway HTTP event)")
    request_id = getattr(context, "aws_request_id", "") or ""
    context_data = _object(event.get("requestContext"), "requestContext")
    target = _method_and_path(event, context_data)
    if target is None:
        if any(key in event for key in DIRECT_KEYS):
            # `aws lambda invoke` / `serverless invoke --data '{"image": ...}'`: the event is the body.
            return Request("POST", "/predict", {"content-type": "application/json"}, _direct_body(event), request_id)
        raise InvalidRequest("the event is neither an API Gateway HTTP event nor a prediction request")
    method, path = target
    headers = {str(k).lower(): str(v) for k, v in _object(event.get("headers"), "headers").items()}
    encoded = event.get("isBase64Encoded") is True
    # Both payload versions carry the decoded query (2.0 joins repeated names with commas).
    query = {str(k): str(v) for k, v in _object(event.get("queryStringParameters"), "queryStringParameters").items()}
    body = _body(event.get("body"), encoded)
    return Request(method, path, headers, body, request_id or str(context_data.get("requestId", "")), encoded, query)


def event_path(event: Any) -> str:
    """The path an event is for, or '' when it names none; never raises (it serves error answers)."""
    try:
        target = _method_and_path(event, _object(event.get("requestContext"), "requestContext"))
    except (InvalidRequest, AttributeError):  # not an object, or a malformed one
        return ""
    return target[1] if target else ""


def _method_and_path(event: dict[str, Any], context_data: dict[str, Any]) -> tuple[str, str] | None:
    """The method and the path (without a stage prefix) of an HTTP API or REST API event, or None."""
    if event.get("version") == "2.0" or "http" in context_data:
        http = _object(context_data.get("http"), "requestContext.http")
        method = _text(http.get("method"), "requestContext.http.method")
        path = _text(event.get("rawPath") or http.get("path"), "rawPath")
        stage = context_data.get("stage")
        if isinstance(stage, str) and stage and stage != "$default" and path.startswith(f"/{stage}/"):
            path = path[len(stage) + 1 :]
    elif "httpMethod" in event:
        method, path = _text(event["httpMethod"], "httpMethod"), _text(event.get("path"), "path")
    else:
        return None
    return method.upper(), "/" + path.strip("/")


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
        raise InvalidRequest(
            "the event cannot be read as a prediction request: it is not plain JSON or is nested too deeply"
        ) from None


def _body(raw: Any, encoded: bool) -> bytes:
    if raw is None:
        return b""
    if isinstance(raw, (bool, int, float)):
        # serverless offline parses a JSON body and passes a falsy result (false, 0) on unparsed.
        raw = json.dumps(raw)
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


def json_object(body: bytes, example: str) -> dict[str, Any]:
    """The JSON object a request body holds; InvalidRequest (naming `example`) when it holds none."""
    if not body:
        raise InvalidRequest(f"the body is empty; send {example}")
    document = _fast_json(body)
    if document is None:
        document = _standard_json(body)
    if not isinstance(document, dict):
        raise InvalidRequest("the body must be a JSON object")
    return document


def _fast_json(body: bytes) -> Any:
    """The document orjson reads from `body` (about 4x faster than `json`), or None where its reading
    could differ from `json`'s: a body it refuses (NaN, a BOM, lone surrogates, UTF-16, too deep:
    `json` reads some of those, and words every refusal), or one with an integer too long for 64
    bits, which orjson reads as a float and `json` as an int."""
    if _LONG_NUMBER in body.translate(_ZEROED_DIGITS):
        return None
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None


def _standard_json(body: bytes) -> Any:
    """The document `json` reads from `body`; InvalidRequest saying why when it reads none."""
    try:
        return json.loads(body)
    except json.JSONDecodeError as exc:
        raise InvalidRequest(f"the body is not valid JSON: {exc.msg} at character {exc.pos}") from None
    except UnicodeDecodeError:
        raise InvalidRequest("the body is not valid JSON: it is not UTF-8 text") from None
    except RecursionError:  # the decoder recurses once per level; a public endpoint gets such bodies
        raise InvalidRequest("the body is nested too deeply; a request needs a few levels at most") from None
    except ValueError:  # Python refuses integers over 4300 digits (int_max_str_digits)
        raise InvalidRequest("the body is not valid JSON: it holds a number too long to read") from None


def error_response(exc: BaseException, style: ErrorStyle = ErrorStyle.API) -> Response:
    """The response for any exception: its status, code and message for API errors; a bare 500
    (details in the log only) for anything else. `style` picks the body's shape."""
    if not isinstance(exc, ApiError):
        log.exception("unexpected error", exc_info=exc)
        exc = ApiError("internal error; it has been logged")
    if style is ErrorStyle.OIP:
        payload: Any = {"error": exc.message}
    else:
        payload = {"error": {"code": exc.code, "message": exc.message}}
    return Response(exc.status, payload, exc.headers, error=exc.code)
