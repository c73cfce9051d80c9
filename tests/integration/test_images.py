"""Pillow, loaded lazily by the API, is still there for code that imports `PIL.Image` after it (a fresh process)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_pillow_loaded_lazily_is_still_reachable_as_pil_image() -> None:
    """Code that does `import PIL.Image` after the API (matplotlib, writing the trainer's curves) finds it."""
    child = "import api.pictures.images, PIL.Image; print(PIL.Image.new('L', (2, 3)).size)"
    repo = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", child],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=repo,
        env={**os.environ, "PYTHONPATH": str(repo)},
    )
    assert done.returncode == 0 and done.stdout.strip() == "(2, 3)", done.stderr[-2000:]
