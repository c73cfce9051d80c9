"""The local model server: `ml_model/exports/` over HTTP, as the original's static server was.

With it running, `MODEL_URL=http://localhost:3000/latest/model.json` (`.env.development`) lets the
API load the newest export during development. It is a read-only static file server: GET, HEAD and
CORS preflight; correct content types; ETag and Last-Modified with conditional requests; no path may
leave the served folder (`..`, encoded forms, absolute paths and symbolic links that point outside are
refused), and hidden entries such as an export still being written are never served.
"""

from __future__ import annotations

import email.utils
import errno
import html
import logging
import mimetypes
import os
import signal
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import quote, unquote, urlsplit

from api.runtime.manifest import LATEST, known_content_type

from .errors import ServeError

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 3000
ALLOWED_METHODS = "GET, HEAD, OPTIONS"
CORS_MAX_AGE = "600"
_COPY_CHUNK = 1 << 16


class ModelFileHandler(BaseHTTPRequestHandler):
    """Serves the files under `server.root`; nothing is written, nothing outside the root is read."""

    server: ModelServer
    server_version = "number-prediction-model-server"
    protocol_version = "HTTP/1.1"
    error_content_type = "text/plain; charset=utf-8"
    error_message_format = "%(code)d %(message)s\n"

    def do_GET(self) -> None:
        self._serve(send_body=True)

    def do_HEAD(self) -> None:
        self._serve(send_body=False)

    def do_OPTIONS(self) -> None:
        """CORS preflight: any origin may read (these are the user's own local files)."""
        self.send_response(HTTPStatus.NO_CONTENT)
        self._cors_headers()
        self.send_header("Access-Control-Allow-Methods", ALLOWED_METHODS)
        self.send_header("Access-Control-Allow-Headers", self.headers.get("Access-Control-Request-Headers", "*"))
        self.send_header("Access-Control-Max-Age", CORS_MAX_AGE)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _refuse_method(self) -> None:
        self.close_connection = True  # the request body is not read, so this connection cannot carry another
        self._error(HTTPStatus.METHOD_NOT_ALLOWED, "read-only server", Allow=ALLOWED_METHODS, Connection="close")

    do_POST = do_PUT = do_DELETE = do_PATCH = _refuse_method

    def _serve(self, *, send_body: bool) -> None:
        target = self._resolve()
        if target is None:
            return
        if target.is_dir():
            path = urlsplit(self.path).path
            if not path.endswith("/"):
                self.send_response(HTTPStatus.MOVED_PERMANENTLY)
                self.send_header("Location", "/" + path.lstrip("/") + "/")  # never "//host/": same server only
                self.send_header("Content-Length", "0")
                self._cors_headers()
                self.end_headers()
                return
            self._send_bytes(self._listing(target), "text/html; charset=utf-8", send_body)
            return
        self._send_file(target, send_body)

    def _resolve(self) -> Path | None:
        """The file a request names, or None after answering 403/404 for anything else."""
        raw_path = urlsplit(self.path).path
        if not raw_path.startswith("/"):
            self._error(HTTPStatus.BAD_REQUEST, "the path must start with /")
            return None
        try:
            path = unquote(raw_path, errors="strict")
        except UnicodeDecodeError:
            self._error(HTTPStatus.BAD_REQUEST, "the path is not UTF-8")
            return None
        parts = [p for p in path.split("/") if p]
        if "\x00" in path or "\\" in path or any(p in (".", "..") for p in parts):
            self._error(HTTPStatus.FORBIDDEN, "path outside the served folder")
            return None
        if any(p.startswith(".") for p in parts):
            self._error(HTTPStatus.NOT_FOUND, "not found")  # hidden: partial exports, dotfiles
            return None
        root = self.server.root
        try:
            target = root.joinpath(*parts).resolve(strict=True)
        except (OSError, RuntimeError):  # missing, or a symbolic-link loop
            self._error(HTTPStatus.NOT_FOUND, "not found")
            return None
        if not target.is_relative_to(root):
            self._error(HTTPStatus.FORBIDDEN, "path outside the served folder")
            return None
        if not (target.is_file() or target.is_dir()):
            self._error(HTTPStatus.NOT_FOUND, "not found")
            return None
        return target

    def _send_file(self, path: Path, send_body: bool) -> None:
        try:
            handle: BinaryIO = path.open("rb")
        except OSError:
            self._error(HTTPStatus.NOT_FOUND, "not found")
            return
        with handle:
            stat = os.fstat(handle.fileno())
            etag = f'"{stat.st_size:x}-{stat.st_mtime_ns:x}"'
            modified = int(stat.st_mtime)
            if self._not_modified(etag, modified):
                self.send_response(HTTPStatus.NOT_MODIFIED)
                self._validator_headers(etag, modified)
                self._cors_headers()
                self.end_headers()
                return
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", content_type_of(path.name))
            self.send_header("Content-Length", str(stat.st_size))
            self._validator_headers(etag, modified)
            self._cors_headers()
            self.end_headers()
            if send_body:
                while chunk := handle.read(_COPY_CHUNK):
                    self.wfile.write(chunk)

    def _not_modified(self, etag: str, modified: int) -> bool:
        if_none_match = self.headers.get("If-None-Match")
        if if_none_match is not None:  # takes precedence over If-Modified-Since (RFC 9110 13.2.2)
            tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
            return "*" in tags or etag in tags
        since = self.headers.get("If-Modified-Since")
        if since:
            try:
                parsed = email.utils.parsedate_to_datetime(since)
            except (TypeError, ValueError):
                return False
            return parsed.timestamp() >= modified
        return False

    def _validator_headers(self, etag: str, modified: int) -> None:
        self.send_header("ETag", etag)
        self.send_header("Last-Modified", email.utils.formatdate(modified, usegmt=True))
        self.send_header("Cache-Control", "no-cache")  # exports change under `latest`: always revalidate

    def _cors_headers(self) -> None:
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Access-Control-Expose-Headers", "ETag, Last-Modified, Content-Length")

    def _listing(self, folder: Path) -> bytes:
        url_path = urlsplit(self.path).path
        title = html.escape(unquote(url_path))
        entries = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
        items = "".join(
            f'<li><a href="{quote(p.name)}{"/" if p.is_dir() else ""}">{html.escape(p.name)}'
            f"{'/' if p.is_dir() else ''}</a></li>"
            for p in entries
        )
        return (f"<!doctype html><meta charset=utf-8><title>{title}</title><h1>{title}</h1><ul>{items}</ul>\n").encode()

    def _send_bytes(self, body: bytes, kind: str, send_body: bool) -> None:
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache")
        self._cors_headers()
        self.end_headers()
        if send_body:
            self.wfile.write(body)

    def _error(self, status: HTTPStatus, message: str, **headers: str) -> None:
        body = f"{status.value} {message}\n".encode()
        self.send_response(status)
        self.send_header("Content-Type", self.error_content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self._cors_headers()
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """One line per request."""
        status = code.value if isinstance(code, HTTPStatus) else code
        log.info('%s "%s" %s', self.address_string(), self.requestline, status)

    def log_error(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's name)
        log.debug("%s " + format, self.address_string(), *args)  # the request line follows anyway

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's name)
        log.info("%s " + format, self.address_string(), *args)


class ModelServer(ThreadingHTTPServer):
    """A threading HTTP server whose handler serves files from `root`."""

    daemon_threads = True  # an open keep-alive connection must not hold up Ctrl-C

    def __init__(self, root: Path, address: tuple[str, int]) -> None:
        self.root = root
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        super().__init__(address, ModelFileHandler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        shown = host if host not in ("0.0.0.0", "::") else "localhost"
        if ":" in str(shown):
            shown = f"[{shown}]"
        return f"http://{shown}:{port}/"


def content_type_of(name: str) -> str:
    """The manifest's content types for export files; the standard table for anything else."""
    known = known_content_type(name)
    if known:
        return known
    guessed, _ = mimetypes.guess_type(name)
    if guessed and guessed.startswith("text/"):
        return f"{guessed}; charset=utf-8"
    return guessed or "application/octet-stream"


def make_server(root: str | Path, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> ModelServer:
    """Bind a server for `root` (port 0 picks a free port); ServeError for a missing root or a taken port."""
    root = Path(root)
    if not root.is_dir():
        raise ServeError(f"{root} is not a folder: train a model first (python -m ml_model train) or pass --root")
    try:
        return ModelServer(root.resolve(), (host, port))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise ServeError(f"port {port} on {host} is already in use; pass --port") from None
        if exc.errno == errno.EACCES:
            raise ServeError(f"not allowed to listen on {host}:{port}; use a port above 1023") from None
        raise ServeError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def serve(root: str | Path, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> None:
    """Serve `root` until Ctrl-C or SIGTERM, then close the socket and return."""
    server = make_server(root, host, port)
    if not (server.root / LATEST).exists():
        log.warning("%s has no 'latest' export yet; train one (python -m ml_model train)", server.root)
    log.info("serving %s at %s (Ctrl-C to stop)", server.root, server.url)
    with server, _sigterm_as_interrupt():
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
    log.info("model server stopped")


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Let `kill` stop the server as cleanly as Ctrl-C does (only possible from the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
