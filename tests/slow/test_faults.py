"""A failing model source: every fault a 503 with Retry-After and one log line, then recovery.

A real fault-injecting HTTP server on loopback serves the trained test export and breaks on
request: refuses connections, hangs, trickles bytes, answers 403/404/500, cuts the file short,
flips a byte, serves another model's file, or serves SavedModel archives with `..`, absolute
paths and links that lead out. A child process whose file-size limit makes every write to the
model cache fail stands in for a full `/tmp`. For each fault, through the real handler:

- the request is answered 503 `model_unavailable` with `Retry-After`, in bounded time;
- exactly one log line (no traceback) says why;
- nothing half-written or unverified is left in the cache;
- once the fault clears, the first request after `Retry-After` is answered 200 by the right model
  (the probabilities of the export itself), without a restart.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import subprocess
import sys
import tarfile
import textwrap
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from api import handler
from api.runtime.manifest import MANIFEST_NAME, SAVEDMODEL, TFLITE
from api.runtime.model_store import ModelStore
from tests.support.api_support import Clock, LambdaContext, http_event, leftovers, serving, store_for
from tests.support.loopback import free_port

pytestmark = [pytest.mark.network, pytest.mark.timeout(180)]

REPO = Path(__file__).resolve().parents[2]
FETCH_TIMEOUT = 1.0  # per connect / read, as Settings.fetch_timeout
LOAD_TIMEOUT = 2.0  # the whole load, as Settings.load_timeout
RETRY_AFTER = 5
# A hang detector for one request: the load timeouts plus room for a loaded machine.
CEILING_SECONDS = LOAD_TIMEOUT + FETCH_TIMEOUT + 10


class FaultServer:
    """Serves a folder on 127.0.0.1, breaking requests whose path ends with a key of `faults`."""

    def __init__(self, root: Path, port: int = 0) -> None:
        self.root = root
        self.faults: dict[str, str] = {}
        self.stopping = threading.Event()
        server_state = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server_state.answer(self)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet test output
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FaultServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    def answer(self, request: BaseHTTPRequestHandler) -> None:
        path = self.root / request.path.lstrip("/")
        fault = next((f for suffix, f in self.faults.items() if request.path.endswith(suffix)), "")
        if fault.startswith("status:"):
            request.send_error(int(fault.split(":")[1]))
            return
        if fault == "hang":  # accept, read the request, never answer
            self.stopping.wait(30)
            return
        if not path.is_file():
            request.send_error(404)
            return
        data = path.read_bytes()
        if fault == "flip":
            data = data[: len(data) // 2] + bytes([data[len(data) // 2] ^ 0xFF]) + data[len(data) // 2 + 1 :]
        elif fault.startswith("swap:"):  # another model's file under this name
            data = (self.root / fault.split(":", 1)[1]).read_bytes()
        request.send_response(200)
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        try:
            if fault == "truncate":  # promise everything, send half, hang up
                request.wfile.write(data[: len(data) // 2])
                request.wfile.flush()
                request.close_connection = True
            elif fault == "trickle":  # a byte every 0.2 s: never silent long enough for a read timeout
                for byte in data:
                    if self.stopping.wait(0.2):
                        break
                    request.wfile.write(bytes([byte]))
                    request.wfile.flush()
            else:
                request.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up, as it should


@pytest.fixture(scope="module")
def digit(real_mnist) -> list[list[int]]:
    return real_mnist.test_images[0].tolist()


@pytest.fixture(scope="module")
def reference(mnist_export: Path, tmp_path_factory: pytest.TempPathFactory, digit) -> dict[str, Any]:
    """What the export itself answers for the digit (loaded straight from its folder)."""
    with serving(store_for(str(mnist_export), tmp_path_factory.mktemp("reference"), runtime=TFLITE)):
        status, _, body = predict(digit)
    assert status == 200
    return body


def predict(digit: list[list[int]]) -> tuple[int, dict[str, str], dict[str, Any]]:
    started = time.perf_counter()
    response = handler.get_number_prediction(http_event("POST", "/predict", {"image": digit}), LambdaContext())
    assert time.perf_counter() - started < CEILING_SECONDS
    return response["statusCode"], response["headers"], json.loads(response["body"])


def fault_store(url: str, cache: Path, clock: Clock, runtime: str = TFLITE) -> ModelStore:
    return store_for(
        url, cache, runtime, clock, retry_after=RETRY_AFTER, fetch_timeout=FETCH_TIMEOUT, load_timeout=LOAD_TIMEOUT
    )


def assert_unavailable_then_recovers(
    store: ModelStore,
    clock: Clock,
    clear: Any,
    digit: list[list[int]],
    reference: dict[str, Any],
    fragment: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The shared course of every fault: a 503 and one log line; cleared; the right model answers."""
    with serving(store):
        with caplog.at_level(logging.INFO, logger="api.runtime.model_store"):
            status, headers, body = predict(digit)
        assert status == 503, body
        assert body == {"error": {"code": "model_unavailable", "message": body["error"]["message"]}}
        assert fragment in body["error"]["message"]
        assert headers["Retry-After"] == str(RETRY_AFTER)
        assert str(REPO) not in json.dumps(body) and "/tmp" not in json.dumps(body)
        lines = [r for r in caplog.records if r.name == "api.runtime.model_store" and r.levelno >= logging.WARNING]
        assert len(lines) == 1 and not lines[0].exc_info, [r.getMessage() for r in lines]
        assert fragment in lines[0].getMessage()
        assert leftovers(store.settings.cache_dir) == []  # no half-written file
        assert store.loaded is None
        clear()
        clock.now += RETRY_AFTER
        status, _, body = predict(digit)
        assert status == 200, body
        assert body["model"]["version"] == reference["model"]["version"]
        np.testing.assert_allclose(body["probabilities"], reference["probabilities"], atol=1e-4)


# ---------------------------------------------------------------- HTTP faults


@pytest.mark.parametrize(
    "target, fault, fragment",
    [
        ("model.json", "status:403", "model.json: HTTP 403"),
        ("model.json", "status:404", "model.json: HTTP 404"),
        ("model.json", "status:500", "model.json: HTTP 500"),
        ("model.json", "hang", "model.json: "),
        ("model.json", "trickle", "model.json: too slow"),
        ("model.json", "truncate", "model.json: the connection closed"),
        ("model.tflite", "status:403", "model.tflite: HTTP 403"),
        ("model.tflite", "status:404", "model.tflite: HTTP 404"),
        ("model.tflite", "status:500", "model.tflite: HTTP 500"),
        ("model.tflite", "hang", "model.tflite: "),
        ("model.tflite", "trickle", "model.tflite: too slow"),
        ("model.tflite", "truncate", "model.tflite: the connection closed"),
        ("model.tflite", "flip", "does not match its sha256"),
        ("model.tflite", "swap:small/history.json", "model.json says"),
    ],
)
def test_an_http_fault_is_a_503_then_clears(
    export_copy: Path,
    tmp_path: Path,
    digit,
    reference,
    caplog: pytest.LogCaptureFixture,
    target: str,
    fault: str,
    fragment: str,
) -> None:
    clock = Clock()
    with FaultServer(export_copy.parent) as server:
        server.faults[target] = fault
        store = fault_store(f"{server.url}/small/model.json", tmp_path / "cache", clock)
        assert_unavailable_then_recovers(store, clock, server.faults.clear, digit, reference, fragment, caplog)


def test_an_unreachable_source_is_a_503_then_clears(
    export_copy: Path, tmp_path: Path, digit, reference, caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()  # nothing listens here until the server below starts
    clock = Clock()
    store = fault_store(f"http://127.0.0.1:{port}/small/model.json", tmp_path / "cache", clock)
    with contextlib.ExitStack() as stack:

        def clear() -> None:
            stack.enter_context(FaultServer(export_copy.parent, port))

        assert_unavailable_then_recovers(store, clock, clear, digit, reference, "cannot connect", caplog)


def test_a_model_from_another_version_is_never_served(
    export_copy: Path, tmp_path: Path, digit, reference, caplog: pytest.LogCaptureFixture
) -> None:
    """model.json of one version, model.tflite of another (the same size): refused by its checksum."""
    other = bytearray((export_copy / "model.tflite").read_bytes())
    other[-64:] = bytes(64)  # another model of the same length
    (export_copy / "other.tflite").write_bytes(bytes(other))
    clock = Clock()
    with FaultServer(export_copy.parent) as server:
        server.faults["model.tflite"] = "swap:small/other.tflite"
        store = fault_store(f"{server.url}/small/model.json", tmp_path / "cache", clock)
        assert_unavailable_then_recovers(
            store, clock, server.faults.clear, digit, reference, "does not match its sha256", caplog
        )
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == [
        json.loads((export_copy / MANIFEST_NAME).read_text())["artifacts"]["tflite"]["sha256"] + ".tflite"
    ]


# ---------------------------------------------------------------- hostile SavedModel archives


def _hostile_archive(kind: str) -> bytes:
    """A saved_model.tar.gz with one hostile member beside a plausible saved_model.pb."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:

        def add(name: str, data: bytes = b"x", **fields: Any) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data) if fields.get("type", tarfile.REGTYPE) == tarfile.REGTYPE else 0
            for key, value in fields.items():
                setattr(info, key, value)
            tar.addfile(info, io.BytesIO(data) if info.size else None)

        add("saved_model/saved_model.pb", b"\0" * 64)
        if kind == "dot-dot":
            add("saved_model/../../escaped.txt")
        elif kind == "absolute":
            add("/number-prediction-escaped.txt")
        elif kind == "symlink-out":
            add("saved_model/variables", type=tarfile.SYMTYPE, linkname="../../../../etc")
        elif kind == "absolute-symlink":
            add("saved_model/passwd", type=tarfile.SYMTYPE, linkname="/etc/passwd")
        elif kind == "hardlink-out":
            add("saved_model/shadow", type=tarfile.LNKTYPE, linkname="../../etc/shadow")
        elif kind == "device":
            add("saved_model/null", type=tarfile.CHRTYPE, devmajor=1, devminor=3)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "kind, fragment",
    [
        ("dot-dot", "is refused"),
        ("absolute", "outside 'saved_model/'"),
        ("symlink-out", "is refused"),
        ("absolute-symlink", "is refused"),
        ("hardlink-out", "is refused"),
        ("device", "is refused"),
    ],
)
def test_a_hostile_savedmodel_archive_is_refused_then_clears(
    export_copy: Path, tmp_path: Path, digit, reference, caplog: pytest.LogCaptureFixture, kind: str, fragment: str
) -> None:
    """A manifest that truly describes a hostile archive (a compromised bucket): nothing lands outside."""
    manifest_path = export_copy / MANIFEST_NAME
    good_manifest, good_archive = manifest_path.read_text(), (export_copy / "saved_model.tar.gz").read_bytes()
    hostile = _hostile_archive(kind)
    manifest = json.loads(good_manifest)
    manifest["artifacts"]["savedmodel"].update(bytes=len(hostile), sha256=hashlib.sha256(hostile).hexdigest())
    manifest_path.write_text(json.dumps(manifest))
    (export_copy / "saved_model.tar.gz").write_bytes(hostile)

    def clear() -> None:
        manifest_path.write_text(good_manifest)
        (export_copy / "saved_model.tar.gz").write_bytes(good_archive)

    clock = Clock()
    cache = tmp_path / "cache"
    with FaultServer(export_copy.parent) as server:
        store = fault_store(f"{server.url}/small/model.json", cache, clock, runtime=SAVEDMODEL)
        assert_unavailable_then_recovers(store, clock, clear, digit, reference, fragment, caplog)
    assert not list(tmp_path.rglob("*escaped*")) and not Path("/number-prediction-escaped.txt").exists()
    unpacked = [p for p in cache.rglob("*") if p.is_symlink() or (p.is_file() and p.stat().st_nlink > 1)]
    assert unpacked == []


# ---------------------------------------------------------------- /tmp full

FULL_DISK_CHILD = textwrap.dedent("""
    import json, logging, resource, signal, sys, time
    from pathlib import Path
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="LOG %(name)s %(message)s")
    from api import handler
    from api.runtime.model_store import ModelStore
    from api.runtime.settings import Settings

    url, cache, digit = sys.argv[1], Path(sys.argv[2]), json.loads(sys.argv[3])
    event = {"image": digit}
    handler.use_model_store(ModelStore(Settings(model_url=url, runtime="tflite", cache_dir=cache, threads=1,
                                                precision="float32", retry_after=1, fetch_timeout=2, load_timeout=4)))
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG) instead of killing us
    resource.setrlimit(resource.RLIMIT_FSIZE, (1024, hard))  # every model file is over 1 KB: the disk is "full"
    full = handler.get_number_prediction(event, None)
    resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))  # space is freed
    time.sleep(1.1)  # Retry-After
    after = handler.get_number_prediction(event, None)
    print(json.dumps({"full": full, "after": after}))
""")


def test_a_full_model_cache_is_a_503_then_clears(export_copy: Path, tmp_path: Path, digit, reference) -> None:
    cache = tmp_path / "cache"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    with FaultServer(export_copy.parent) as server:
        result = subprocess.run(
            [sys.executable, "-c", FULL_DISK_CHILD, f"{server.url}/small/model.json", str(cache), json.dumps(digit)],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
            cwd=REPO,
        )
    assert result.returncode == 0, result.stderr[-2000:]
    answers = json.loads(result.stdout.strip().splitlines()[-1])
    full, after = answers["full"], answers["after"]
    assert full["statusCode"] == 503 and full["headers"]["Retry-After"] == "1"
    message = json.loads(full["body"])["error"]["message"]
    assert "cannot store model.tflite in the model cache: File too large" in message and str(cache) not in message
    log_lines = [line for line in result.stderr.splitlines() if line.startswith("LOG api.runtime.model_store")]
    assert len(log_lines) == 1 and "cannot store model.tflite" in log_lines[0], result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert after["statusCode"] == 200, after
    np.testing.assert_allclose(json.loads(after["body"])["probabilities"], reference["probabilities"], atol=1e-4)
    assert leftovers(cache) == []
