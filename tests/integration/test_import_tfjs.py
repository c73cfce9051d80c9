"""`python -m ml_model import-tfjs` against a source on loopback that trickles: cut off at the deadline, in one line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ml_model import import_tfjs as import_module
from ml_model.cli import main


def test_a_source_that_trickles_is_cut_off_at_the_deadline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import threading
    import time
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Trickle(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "100000")
            self.end_headers()
            try:
                for _ in range(50):  # 10 bytes every 50 ms: each read is quick, the whole never arrives
                    self.wfile.write(b" " * 10)
                    self.wfile.flush()
                    time.sleep(0.05)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the importer gave up: the point

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet test output
            pass

    monkeypatch.setattr(import_module, "FETCH_DEADLINE", 0.5)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Trickle)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True).start()
    try:
        code = main(
            ["import-tfjs", f"http://127.0.0.1:{server.server_address[1]}/model.json", "--out", str(tmp_path / "out")]
        )
    finally:
        server.shutdown()
        server.server_close()
    err = capsys.readouterr().err.strip()
    assert code == 7 and "model.json: too slow" in err and "\n" not in err, err
    assert not (tmp_path / "out").exists()
