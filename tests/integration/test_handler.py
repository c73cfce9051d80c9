"""Importing the `getNumberPrediction` handler, in a fresh process, loads no model, runtime or boto3."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_importing_the_handler_does_nothing(tmp_path: Path) -> None:
    """No model, network, runtime or boto3 at import: a cold start pays for them only when needed."""
    code = (
        "import sys, api.handler; heavy = {'ai_edge_litert', 'tensorflow', 'boto3', 'botocore', 'ml_model'}; "
        "print(sorted(heavy & set(sys.modules)))"
    )
    env = {"MODEL_URL": "http://127.0.0.1:9/never", "MODEL_CACHE_DIR": str(tmp_path / "cache"), "PATH": ""}
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]" and not (tmp_path / "cache").exists()
