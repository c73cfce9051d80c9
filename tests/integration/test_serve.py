"""The local model server over real HTTP on loopback: the export, content types, caching, CORS, refusals.

The API loading the trained export from it: tests/slow/test_serve.py.
"""

from __future__ import annotations

import email.utils
import http.client
import logging
import os
import re
import selectors
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ml_model.errors import ServeError
from ml_model.serve import ModelServer, make_server
from tests.support.fake_exports import make_fake_export
from tests.support.loopback import ctrl_c_reaches_the_child

REPO = Path(__file__).resolve().parents[2]
VERSION = "2026-11-26T10-07-19Z"
SECRET = b"TOP SECRET: outside the served folder"
# How often the server's serve_forever looks for shutdown(): each test's teardown waits up to this long.
POLL_INTERVAL = 0.01

pytestmark = [pytest.mark.network, pytest.mark.timeout(60)]


@pytest.fixture
def exports_root(tmp_path: Path) -> Path:
    """`<tmp>/exports/` laid out as the trainer leaves it, a secret beside it, and traps inside it."""
    root = tmp_path / "exports"
    make_fake_export(root, "cpu-v2", VERSION)
    (tmp_path / "secret.txt").write_bytes(SECRET)
    (root / ".cpu-v3.partial-1234").mkdir()  # an export still being written
    (root / ".cpu-v3.partial-1234" / "model.json").write_text("{}")
    (root / "escape").symlink_to(tmp_path, target_is_directory=True)  # a link that leads out
    (root / "escape.txt").symlink_to(tmp_path / "secret.txt")
    return root


@pytest.fixture
def server(exports_root: Path) -> Iterator[ModelServer]:
    server = make_server(exports_root, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, args=(POLL_INTERVAL,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


def request(
    server: ModelServer, path: str, method: str = "GET", headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """Send `path` exactly as given (no client-side normalisation)."""
    connection = http.client.HTTPConnection(*server.server_address[:2], timeout=5)
    try:
        connection.putrequest(method, path, skip_accept_encoding=True)
        for name, value in (headers or {}).items():
            connection.putheader(name, value)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


@pytest.mark.parametrize(
    "name, kind",
    [
        ("model.json", "application/json"),
        ("model.tflite", "application/octet-stream"),
        ("saved_model.tar.gz", "application/gzip"),
        ("history.json", "application/json"),
        ("history.png", "image/png"),
    ],
)
def test_serves_the_latest_export_with_its_content_types(
    name: str, kind: str, server: ModelServer, exports_root: Path
) -> None:
    status, headers, body = request(server, f"/latest/{name}")
    assert status == 200
    assert body == (exports_root / "cpu-v2" / name).read_bytes()
    assert headers["content-type"] == kind
    assert headers["content-length"] == str(len(body))
    assert headers["access-control-allow-origin"] == "*"
    assert headers["etag"] and email.utils.parsedate_to_datetime(headers["last-modified"])


def test_head_and_conditional_requests(server: ModelServer, exports_root: Path) -> None:
    status, headers, body = request(server, "/cpu-v2/model.tflite", "HEAD")
    assert status == 200 and body == b"" and int(headers["content-length"]) == 96_000
    etag, modified = headers["etag"], headers["last-modified"]

    assert request(server, "/cpu-v2/model.tflite", headers={"If-None-Match": etag})[0] == 304
    assert request(server, "/cpu-v2/model.tflite", headers={"If-None-Match": '"other"'})[0] == 200
    assert request(server, "/cpu-v2/model.tflite", headers={"If-Modified-Since": modified})[0] == 304
    # A new export under the same name changes the validators.
    path = exports_root / "cpu-v2" / "model.tflite"
    path.write_bytes(path.read_bytes() + b"!")
    os.utime(path, (time.time() + 5, time.time() + 5))
    status, headers, _ = request(server, "/cpu-v2/model.tflite", headers={"If-None-Match": etag})
    assert status == 200 and headers["etag"] != etag


def test_cors_preflight_and_read_only_methods(server: ModelServer) -> None:
    status, headers, _ = request(
        server,
        "/latest/model.json",
        "OPTIONS",
        headers={
            "Origin": "http://localhost:8080",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "if-none-match",
        },
    )
    assert status == 204
    assert headers["access-control-allow-origin"] == "*"
    assert "GET" in headers["access-control-allow-methods"]
    assert headers["access-control-allow-headers"] == "if-none-match"
    for method in ("POST", "PUT", "DELETE"):
        status, headers, _ = request(server, "/latest/model.json", method)
        assert status == 405 and "GET" in headers["allow"]


def test_folders_redirect_and_list_without_hidden_entries(server: ModelServer) -> None:
    status, headers, _ = request(server, "/latest")
    assert status == 301 and headers["location"] == "/latest/"
    status, headers, body = request(server, "/")
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert b'href="cpu-v2/"' in body and b'href="latest/"' in body and b"partial" not in body


@pytest.mark.parametrize(
    "path",
    [
        "/nope.json",
        "/latest/nope.tflite",
        "/.cpu-v3.partial-1234/model.json",
        "/%2ecpu-v3.partial-1234/model.json",
        "/latest/model.json/extra",
    ],
)
def test_missing_and_hidden_files_are_404(path: str, server: ModelServer) -> None:
    status, _, body = request(server, path)
    assert status == 404 and SECRET not in body


@pytest.mark.parametrize(
    "path, expected",
    [
        ("/../secret.txt", 403),
        ("/latest/../../secret.txt", 403),
        ("/%2e%2e/secret.txt", 403),
        ("/%2E%2E%2Fsecret.txt", 403),
        ("/latest/%2e%2e/%2e%2e/secret.txt", 403),
        ("/..%2fsecret.txt", 403),
        ("/..%5csecret.txt", 403),
        ("/..\\secret.txt", 403),
        ("/latest/..%00/secret.txt", 403),
        ("/%2F..%2Fsecret.txt", 403),
        ("http://127.0.0.1/../secret.txt", 403),  # absolute-form request target
        ("/escape/secret.txt", 403),  # a symbolic link out of the root
        ("/escape.txt", 403),
        ("/%252e%252e/secret.txt", 404),  # decoded once: a literal file name "%2e%2e"
        ("//secret.txt", 404),  # an absolute file-system path is still looked up under the root
        (str(REPO / "README.md"), 404),
        ("/%ff%fe", 400),
        ("secret.txt", 400),
    ],
)
def test_paths_outside_the_root_are_refused(path: str, expected: int, server: ModelServer) -> None:
    status, _, body = request(server, path)
    assert status == expected
    assert SECRET not in body


def test_one_log_line_per_request(server: ModelServer, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="ml_model.serve"):
        request(server, "/latest/model.json")
        request(server, "/nope")
        request(server, "/../secret.txt")
    lines = [r.getMessage() for r in caplog.records if r.name == "ml_model.serve"]
    assert len(lines) == 3, lines
    assert '"GET /latest/model.json HTTP/1.1" 200' in lines[0]
    assert lines[1].endswith(" 404") and lines[2].endswith(" 403")


def test_start_up_failures_are_user_errors(tmp_path: Path, server: ModelServer) -> None:
    with pytest.raises(ServeError, match="not a folder"):
        make_server(tmp_path / "missing", "127.0.0.1", 0)
    with pytest.raises(ServeError, match="already in use"):
        make_server(tmp_path, "127.0.0.1", server.server_address[1])


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_the_command_serves_and_stops_cleanly(stop: signal.Signals, exports_root: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(
        [sys.executable, "-m", "ml_model", "serve", "--root", str(exports_root), "--port", "0"],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=exports_root,
        preexec_fn=ctrl_c_reaches_the_child,
    )
    try:
        url = _wait_for_url(process)
        host, port = re.match(r"http://([\d.]+):(\d+)/", url).groups()  # type: ignore[union-attr]
        assert host == "127.0.0.1"  # loopback unless told otherwise
        connection = http.client.HTTPConnection(host, int(port), timeout=5)
        connection.request("GET", "/latest/model.json")
        response = connection.getresponse()
        assert response.status == 200 and VERSION.encode() in response.read()
        connection.close()
        process.send_signal(stop)
        _, stderr = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr and "stopped" in stderr
    assert '"GET /latest/model.json HTTP/1.1" 200' in stderr


def _wait_for_url(process: subprocess.Popen[str], timeout: float = 30) -> str:
    """The URL the server announces on stderr once it listens."""
    assert process.stderr is not None
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(process.stderr, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if selector.select(timeout=deadline - time.monotonic()):
                line = process.stderr.readline()
                if not line:
                    break
                if match := re.search(r"http://\S+/", line):
                    return match.group(0)
    raise AssertionError("the server did not announce its address")
