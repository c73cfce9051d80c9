"""`python -m ml_model`: every subcommand documents itself, and usage errors are one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
COMMANDS = ["train", "evaluate", "quantize", "import-tfjs", "deploy", "versions", "rollback", "serve"]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ml_model", *args], capture_output=True, text=True, cwd=REPO, timeout=120
    )


def test_top_level_help_lists_every_command() -> None:
    done = _run("--help")
    assert done.returncode == 0
    for command in COMMANDS:
        assert command in done.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_each_command_has_help(command: str) -> None:
    done = _run(command, "--help")
    assert done.returncode == 0 and done.stdout.startswith(f"usage: python -m ml_model {command}")
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("args", [["no-such-command"], ["train", "--epochs", "three"], []])
def test_usage_errors_exit_2_without_traceback(args: list[str]) -> None:
    done = _run(*args)
    assert done.returncode == 2 and "usage:" in done.stderr and "Traceback" not in done.stderr


def test_train_epochs_override_is_validated() -> None:
    done = _run("train", "--epochs", "0")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == "error: epochs must be a positive integer, got 0"


def test_quantize_refuses_a_folder_that_is_not_an_export(tmp_path: Path) -> None:
    done = _run("quantize", str(tmp_path), "--out", str(tmp_path / "out"))
    assert done.returncode == 4 and "no model.json here" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()


def test_evaluate_cli_on_a_folder_that_is_not_an_export(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ml_model", "evaluate", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert done.returncode == 4 and "no model.json here" in done.stderr and "Traceback" not in done.stderr
