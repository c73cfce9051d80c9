"""For the deploy tests: a proxy in front of the S3 endpoint that can fail, a fast client, and a reader.

moto runs in server mode (real HTTP on 127.0.0.1: conftest's `moto_endpoint`); `FaultyProxy` forwards
to it and, after a chosen number of PUTs, answers 500 or 403, drops connections, or dies altogether,
so failures reach boto3 the way a broken network or store would. `load_latest` reads
`latest/model.json` and the files it names the way the API does: paths relative to the manifest.
"""

from __future__ import annotations

import hashlib
import http.client
import posixpath
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from api.runtime.manifest import Manifest, parse_manifest
from ml_model.deploy import LATEST_KEY
from ml_model.s3 import s3_client

HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "trailer"}


def fast_client(endpoint: str) -> Any:
    """A client that fails fast: one attempt, short timeouts."""
    return s3_client(endpoint, max_attempts=1, connect_timeout=2, read_timeout=5)


@dataclass
class LoadedModel:
    manifest: Manifest
    files: dict[str, bytes]  # artifact key → bytes
    keys: dict[str, str]  # artifact key → the object key it came from


def load_latest(client: Any, bucket: str) -> LoadedModel:
    """Fetch latest/model.json and every file it names, checking each against the manifest."""
    manifest = parse_manifest(client.get_object(Bucket=bucket, Key=LATEST_KEY)["Body"].read())
    files, keys = {}, {}
    base = posixpath.dirname(LATEST_KEY)
    for key, artifact in manifest.artifacts.items():
        object_key = posixpath.normpath(posixpath.join(base, artifact.path))
        data = client.get_object(Bucket=bucket, Key=object_key)["Body"].read()
        assert len(data) == artifact.bytes, (object_key, len(data), artifact.bytes)
        assert hashlib.sha256(data).hexdigest() == artifact.sha256, f"{object_key} does not match the manifest"
        files[key], keys[key] = data, object_key
    return LoadedModel(manifest, files, keys)


class FaultyProxy:
    """An HTTP proxy on 127.0.0.1 that forwards to `upstream` until it is told to misbehave.

    Modes, applied from the `fail_at`-th PUT on (0-based) to every later request, or to every request
    when `fail_at` is None: "500" (InternalError), "403" (AccessDenied), "drop" (close without an
    answer), "die" (close and stop listening), "lost" (forward that one PUT, then drop the answer: it
    landed but the client cannot know). `delay` slows every request down; `on_put(n)` runs before the
    n-th PUT (0-based) is forwarded, e.g. to let a rival writer act in the middle of a deploy.
    """

    def __init__(
        self,
        upstream: str,
        mode: str | None = None,
        fail_at: int | None = None,
        delay: float = 0.0,
        on_put: Callable[[int], None] | None = None,
    ) -> None:
        self.upstream = upstream.removeprefix("http://")
        self.mode, self.fail_at, self.delay, self.on_put = mode, fail_at, delay, on_put
        self.puts = 0
        self.failing = mode is not None and fail_at is None
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # so that `Expect: 100-continue` is answered, not waited out

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
                pass

            def _any(self) -> None:
                proxy._handle(self)

            do_GET = do_PUT = do_HEAD = do_POST = do_DELETE = _any

        self._server = _QuietServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self._alive = True

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        if self.delay:
            time.sleep(self.delay)
        with self._lock:
            forward_then_drop = False
            if handler.command == "PUT":
                number, self.puts = self.puts, self.puts + 1
                if self.on_put is not None:
                    self.on_put(number)
                if self.mode is not None and self.fail_at is not None and number >= self.fail_at:
                    if self.mode == "lost":
                        forward_then_drop = True
                    else:
                        self.failing = True
            failing = self.failing
        body = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        if failing:
            self._misbehave(handler)
            return
        status, headers, payload = self._forward(handler, body)
        if forward_then_drop:
            self.mode = None  # one lost answer is the whole failure
            _drop(handler)
            return
        handler.close_connection = True  # one request per connection keeps "die" simple
        handler.send_response_only(status)
        handler.send_header("Connection", "close")
        for name, value in headers:
            if name.lower() not in HOP_BY_HOP and (name.lower() != "content-length" or handler.command == "HEAD"):
                handler.send_header(name, value)
        if handler.command != "HEAD":
            handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        if handler.command != "HEAD":
            handler.wfile.write(payload)

    def _forward(self, handler: BaseHTTPRequestHandler, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        connection = http.client.HTTPConnection(self.upstream, timeout=10)
        try:
            headers = {k: v for k, v in handler.headers.items() if k.lower() not in HOP_BY_HOP}
            connection.request(handler.command, handler.path, body=body or None, headers=headers)
            response = connection.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            connection.close()

    def _misbehave(self, handler: BaseHTTPRequestHandler) -> None:
        if self.mode in ("500", "403"):
            code, status = ("InternalError", 500) if self.mode == "500" else ("AccessDenied", 403)
            xml = (
                f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
                f"<Message>injected by the test proxy</Message></Error>"
            ).encode()
            handler.close_connection = True
            handler.send_response_only(status)
            handler.send_header("Connection", "close")
            handler.send_header("Content-Type", "application/xml")
            handler.send_header("Content-Length", str(len(xml)))
            handler.end_headers()
            if handler.command != "HEAD":
                handler.wfile.write(xml)
            return
        _drop(handler)
        if self.mode == "die":
            self.close()

    def close(self) -> None:
        """Stop listening: later connections are refused."""
        with self._lock:
            if not self._alive:
                return
            self._alive = False
        threading.Thread(target=self._server.shutdown, daemon=True).start()
        self._server.socket.close()

    def __enter__(self) -> FaultyProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # dropped connections are the point, not news


def _drop(handler: BaseHTTPRequestHandler) -> None:
    """Close the client's connection without a word (a crash, a reset, a cut cable)."""
    handler.close_connection = True
    try:
        handler.connection.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
