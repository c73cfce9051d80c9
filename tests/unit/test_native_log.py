"""The CLI's native-log filter leaves in-process callers alone: a test capturing `sys.stderr` still sees
what is printed, and descriptor 2 is not touched.

The filter at work in a child process, and the commands users run: tests/integration/test_native_log.py
and tests/slow/test_native_log.py.
"""

from __future__ import annotations

import os
import sys

import pytest


def test_the_filter_only_acts_on_the_process_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    """In-process callers (tests capturing sys.stderr) are left alone: no descriptor is touched."""
    from ml_model.native_log import native_notices_filtered

    before = os.fstat(2)
    with native_notices_filtered():
        print("captured", file=sys.stderr)
        assert os.fstat(2) == before
    assert capsys.readouterr().err == "captured\n"
