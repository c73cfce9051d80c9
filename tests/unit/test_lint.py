"""ruff, as configured in pyproject.toml, finds nothing to fix in the tree: lint and format alike."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def ruff() -> str:
    """The ruff pinned in requirements-dev.lock (installed beside this Python), else the one on PATH."""
    beside = Path(sys.executable).with_name("ruff")
    found = str(beside) if beside.is_file() else shutil.which("ruff")
    assert found, "ruff is not installed: bash scripts/test.sh installs requirements-dev.lock"
    return found


@pytest.mark.parametrize("command", [["check"], ["format", "--check"]], ids=["check", "format"])
def test_ruff_is_clean(command: list[str]) -> None:
    run = subprocess.run([ruff(), *command, "."], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, f"ruff {' '.join(command)} found:\n{run.stdout}{run.stderr}"
