"""The CLI keeps native libraries' notices off the terminal and lets everything else through.

First the filter itself, in a child process writing to descriptor 2 as C++ would (notices, an
ERROR line, a line that is neither, a last line with no newline, a command that dies); then the
commands users run, on the locked stack, in a user's environment (no TF_CPP_MIN_LOG_LEVEL).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from api_support import NATIVE_NOISE
from loopback import free_port

REPO = Path(__file__).resolve().parents[1]

NOTICES = [
    b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n",
    b"I0000 00:00:1796389771.589351    5904 port.cc:153] oneDNN custom operations are on. You may see...\n",
    b"W0000 00:00:1733310000.123456    6001 tf_tfl_flatbuffer_helpers.cc:365] Ignored output_format.\n",
    b"I1204 13:05:07.000001  123 cpu_feature_guard.cc:227] This TensorFlow binary is optimized...\n",
    b"To enable the following instructions: AVX2 AVX512F FMA, in other operations, rebuild TensorFlow\n",
    b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n",
    b"fully_quantize: 0, inference_type: 6, input_inference_type: FLOAT32, output_inference_type: FLOAT32\n",
]
KEPT = [
    b"E0000 00:00:1796389771.589351    5904 cuda_dnn.cc:1] a real error\n",
    b"F1204 13:05:07.000001  123 check.cc:9] Check failed: fatal\n",
    b"Segmentation fault: a line no filter knows\n",
]

CHILD = """
import os, sys
from ml_model.native_log import native_notices_filtered
notices, kept, tail, end = eval(sys.argv[1]), eval(sys.argv[2]), sys.argv[3].encode(), sys.argv[4]
with native_notices_filtered():
    for notice, line in zip(notices, kept + [b""] * len(notices)):
        os.write(2, notice)
        os.write(2, line)
    print("python's own stderr line", file=sys.stderr)
    os.write(2, tail)
    if end == "die":
        os._exit(3)
print("after the command", file=sys.stderr)
"""


def user_env() -> dict[str, str]:
    """A user's shell: no TF_CPP_MIN_LOG_LEVEL (the suite sets one for itself), this checkout first."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    return {**env, "PYTHONPATH": str(REPO), "MNIST_MIRRORS": ""}


def run_child(end: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-c", CHILD, repr(NOTICES), repr(KEPT), "last words, no newline", end],
                          capture_output=True, cwd=REPO, env=user_env(), timeout=60)


@pytest.mark.parametrize("end", ["normally", "die"])
def test_notices_are_dropped_and_everything_else_passes(end: str) -> None:
    done = run_child(end)
    assert done.returncode == (3 if end == "die" else 0)
    for notice in NOTICES:
        assert notice.strip() not in done.stderr
    for line in KEPT:  # errors, fatal lines and unknown output reach the user, in order
        assert line in done.stderr
    assert done.stderr.index(KEPT[0]) < done.stderr.index(KEPT[1]) < done.stderr.index(KEPT[2])
    assert b"python's own stderr line\n" in done.stderr
    assert b"last words, no newline" in done.stderr  # what was still in the pipe when the command ended
    assert (b"after the command" in done.stderr) == (end != "die")


def test_the_filter_only_acts_on_the_process_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    """In-process callers (tests capturing sys.stderr) are left alone: no descriptor is touched."""
    from ml_model.native_log import native_notices_filtered

    before = os.fstat(2)
    with native_notices_filtered():
        print("captured", file=sys.stderr)
        assert os.fstat(2) == before
    assert capsys.readouterr().err == "captured\n"


def test_verbose_lets_native_output_through(tmp_path: Path) -> None:
    """`--verbose` is the way to see TensorFlow's own logging: the filter is not started at all."""
    done = subprocess.run([sys.executable, "-m", "ml_model", "-v", "evaluate", str(tmp_path)],
                          capture_output=True, text=True, cwd=REPO, env=user_env(), timeout=120)
    assert done.returncode == 4 and "no model.json here" in done.stderr
    quiet = subprocess.run([sys.executable, "-m", "ml_model", "evaluate", str(tmp_path)],
                           capture_output=True, text=True, cwd=REPO, env=user_env(), timeout=120)
    assert quiet.returncode == 4 and quiet.stderr == done.stderr  # the one-line error either way


@pytest.mark.slow
def test_quantize_prints_no_native_line(mnist_export: Path, tmp_path: Path) -> None:
    """The converter and the calibration run in this command: TensorFlow, LiteRT and converter output."""
    done = subprocess.run([sys.executable, "-m", "ml_model", "quantize", str(mnist_export), "--out",
                           str(tmp_path / "quantised")], capture_output=True, text=True, cwd=REPO,
                          env=user_env(), timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert not NATIVE_NOISE.search(done.stderr), done.stderr[-2000:]
    assert "int8" in done.stdout + done.stderr


@pytest.mark.slow
def test_serve_prints_no_native_line_and_stops_on_ctrl_c(mnist_export: Path) -> None:
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "ml_model", "serve", "--root", str(mnist_export.parent),
                               "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              cwd=REPO, env=user_env(), text=True)
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
