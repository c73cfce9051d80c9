"""Helpers for the API tests: a counting static file server on loopback, moto's S3 server, events."""

from __future__ import annotations

import base64
import contextlib
import functools
import json
import logging
import re
import resource
import socket
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

# What LiteRT and TensorFlow write from C++, which must stay off a user's screen: absl-style
# "I0000 00:00:..." lines, absl's and oneDNN's notices, LiteRT's "Created TensorFlow Lite XNNPACK delegate".
NATIVE_NOISE = re.compile(r"^[IWE]\d{4} |XNNPACK|oneDNN|absl::", re.MULTILINE)
DUMMY_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}


@dataclass
class FolderServer:
    """A folder served over HTTP on 127.0.0.1; `hits` counts GETs by path."""

    url: str
    hits: Counter = field(default_factory=Counter)


class _CountingHandler(SimpleHTTPRequestHandler):
    server_state: FolderServer

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self.server_state.hits[self.path] += 1
        super().do_GET()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet test output
        pass


@contextlib.contextmanager
def serve_folder(root: Path) -> Iterator[FolderServer]:
    """Serve `root` at http://127.0.0.1:<free port>/ until the block ends."""
    state = FolderServer("")
    handler = type("Handler", (_CountingHandler,), {"server_state": state})
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(root)))
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@contextlib.contextmanager
def moto_s3() -> Iterator[str]:
    """moto's S3 in server mode (real HTTP) on 127.0.0.1; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def rss_mb() -> float:
    """This process's resident memory in MB (Linux)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 2**20


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def http_event(method: str = "POST", path: str = "/predict", body: Any = None, *,
               content_type: str | None = "application/json", base64_body: bool = False,
               stage: str = "$default") -> dict[str, Any]:
    """An API Gateway HTTP API (payload 2.0) event; `body` is sent as JSON unless bytes or str."""
    raw = _raw_body(body)
    headers = {"content-type": content_type} if content_type else {}
    raw_path = path if stage == "$default" else f"/{stage}{path}"
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": raw_path,
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {"http": {"method": method, "path": raw_path}, "requestId": "api-req", "stage": stage},
        "body": _encode(raw, base64_body),
        "isBase64Encoded": base64_body,
    }


def rest_event(method: str = "POST", path: str = "/predict", body: Any = None, *,
               content_type: str | None = "application/json", base64_body: bool = False) -> dict[str, Any]:
    """An API Gateway REST API (payload 1.0) event, headers in their usual mixed case."""
    raw = _raw_body(body)
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": {"Content-Type": content_type} if content_type else None,
        "requestContext": {"requestId": "rest-req", "stage": "prod", "path": f"/prod{path}"},
        "body": _encode(raw, base64_body),
        "isBase64Encoded": base64_body,
    }


def _raw_body(body: Any) -> bytes | None:
    if body is None:
        return None
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode()
    return json.dumps(body).encode()


def _encode(raw: bytes | None, as_base64: bool) -> str | None:
    if raw is None:
        return None
    return base64.b64encode(raw).decode() if as_base64 else raw.decode("utf-8")


class LambdaContext:
    """The attributes of Lambda's context object the handler reads."""

    aws_request_id = "lambda-req-1"
    function_name = "number-prediction-development-getNumberPrediction"
    memory_limit_in_mb = 1024

    def get_remaining_time_in_millis(self) -> int:
        return 15_000
