"""Keeps native libraries' notices off a user's terminal while a CLI command runs, letting errors through.

TensorFlow, absl, oneDNN, LiteRT (XNNPACK) and the TFLite converter write to file descriptor 2 from
C++, below Python. `TF_CPP_MIN_LOG_LEVEL` silences only part of it: absl's "All log messages before
absl::InitializeLog() is called are written to STDERR" and oneDNN's notice are written while
TensorFlow's shared library loads, before any setting is read; the converter prints its quantisation
settings with printf. So for the whole command, descriptor 2 is a pipe to a small filter process
that drops those notices (absl/glog-style INFO and WARNING lines and the known start-up lines) and
passes every other byte on, in order: ERROR and FATAL lines, anything else a library prints, and
whatever is still in the pipe if the command dies. Python's own `sys.stderr` (logging, progress
bars, error messages) writes to the terminal directly, never through the filter.

The filter is a separate process, not a thread: native code may write while holding the GIL, and a
thread that needs the GIL to drain the pipe could then never run. It starts in a session of its own,
so Ctrl-C reaches the command, which ends the filter by closing the pipe.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

# Lines of native output that are notices, not errors (matched at a line's start).
NOISE = re.compile(
    rb"[IW]\d{4} \d+:\d+:\d+\.\d+ +\d+ \S+:\d+\] "  # absl/glog INFO and WARNING lines
    rb"|WARNING: All log messages before absl::InitializeLog\(\) is called"
    rb"|To enable the following instructions: "  # the second line of TensorFlow's CPU-feature notice
    rb"|INFO: Created TensorFlow Lite XNNPACK delegate"
    rb"|INFO: Initialized TensorFlow Lite runtime"
    rb"|fully_quantize: \d"  # the TFLite converter's quantisation settings
)
# The filter: standard input (the pipe) to standard output (the terminal's stderr), less NOISE.
FILTER = """
import re, sys
noise = re.compile(sys.argv[1].encode("latin-1"))
out = sys.stdout.buffer
for line in sys.stdin.buffer:
    if not noise.match(line):
        out.write(line)
        out.flush()
"""
# How long the command waits, at its end, for the filter to pass on the last lines.
DRAIN_SECONDS = 5.0


def _is_process_stderr() -> bool:
    """Whether `sys.stderr` writes to descriptor 2 itself (not a test's capture, not a closed stream)."""
    try:
        return sys.stderr is not None and sys.stderr.fileno() == 2
    except (AttributeError, OSError, ValueError):
        return False


@contextmanager
def native_notices_filtered() -> Iterator[None]:
    """Descriptor 2 through the filter meanwhile; `sys.stderr` straight to the terminal from now on."""
    if not _is_process_stderr():
        yield
        return
    sys.stderr.flush()
    try:
        terminal = os.dup(2)
        reader, writer = os.pipe()
    except OSError:
        yield
        return
    try:
        filter_process = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", FILTER, NOISE.pattern.decode("latin-1")],
            stdin=reader,
            stdout=terminal,
            stderr=terminal,
            start_new_session=True,
        )
    except OSError:
        os.close(reader)
        os.close(writer)
        os.close(terminal)
        yield
        return
    os.close(reader)
    os.dup2(writer, 2)
    os.close(writer)
    # Python's stderr goes to the terminal directly (a dup of it: a terminal stays a terminal for
    # progress bars); it stays open after the command, for anything logged at exit.
    sys.stderr = open(
        terminal,
        "w",
        buffering=1,
        encoding=sys.stderr.encoding,
        errors=sys.stderr.errors or "backslashreplace",
        closefd=False,
    )
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(terminal, 2)  # the pipe's last writer closes: the filter drains it and ends
        try:
            filter_process.wait(DRAIN_SECONDS)
        except subprocess.TimeoutExpired:  # a child process of the command still holds the pipe
            pass
