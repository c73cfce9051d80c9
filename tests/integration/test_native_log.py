"""The CLI keeps native libraries' notices off the terminal and lets everything else through.

The filter itself, in a child process writing to descriptor 2 as C++ would (notices, an ERROR line,
a line that is neither, a last line with no newline, a command that dies), and `--verbose` letting
native output through, in a user's environment (no TF_CPP_MIN_LOG_LEVEL). The commands that load
TensorFlow and LiteRT (quantize, serve): tests/slow/test_native_log.py.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.native_log_support import REPO, user_env

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


def run_child(end: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-c", CHILD, repr(NOTICES), repr(KEPT), "last words, no newline", end],
        capture_output=True,
        cwd=REPO,
        env=user_env(),
        timeout=60,
    )


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


def test_verbose_lets_native_output_through(tmp_path: Path) -> None:
    """`--verbose` is the way to see TensorFlow's own logging: the filter is not started at all."""
    done = subprocess.run(
        [sys.executable, "-m", "ml_model", "-v", "evaluate", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=user_env(),
        timeout=120,
    )
    assert done.returncode == 4 and "no model.json here" in done.stderr
    quiet = subprocess.run(
        [sys.executable, "-m", "ml_model", "evaluate", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=user_env(),
        timeout=120,
    )
    assert quiet.returncode == 4 and quiet.stderr == done.stderr  # the one-line error either way
