"""The commands users run on the trained export print no native library's notice, on the locked
stack, in a user's environment (no TF_CPP_MIN_LOG_LEVEL): quantize, and serve until Ctrl-C.

The filter itself: tests/integration/test_native_log.py.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.support.api_support import NATIVE_NOISE
from tests.support.loopback import free_port
from tests.support.native_log_support import REPO, user_env


def test_quantize_prints_no_native_line(mnist_export: Path, tmp_path: Path) -> None:
    """The converter and the calibration run in this command: TensorFlow, LiteRT and converter output."""
    done = subprocess.run(
        [sys.executable, "-m", "ml_model", "quantize", str(mnist_export), "--out", str(tmp_path / "quantised")],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=user_env(),
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert not NATIVE_NOISE.search(done.stderr), done.stderr[-2000:]
    assert "int8" in done.stdout + done.stderr


def test_serve_prints_no_native_line_and_stops_on_ctrl_c(mnist_export: Path) -> None:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "ml_model", "serve", "--root", str(mnist_export.parent), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=REPO,
        env=user_env(),
        text=True,
        # Ctrl-C reaches the server as in a terminal, however the suite was started: a shell starting it in
        # the background (`pytest &`) leaves SIGINT ignored, and an ignored signal stays ignored in children.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/latest/model.json", timeout=5) as answer:
                    assert answer.status == 200
                break
            except OSError:
                assert time.monotonic() < deadline and server.poll() is None, "the model server did not start"
                time.sleep(0.2)
        server.send_signal(signal.SIGINT)
        out, err = server.communicate(timeout=30)
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate()
    assert server.returncode in (0, 130), err
    assert not NATIVE_NOISE.search(err) and "Traceback" not in err, err
