"""A cold start that answers an array never runs Pillow's code (`api.lazy`), seen from a fresh process.

The fast paths' equivalence with the plain paths: tests/unit/test_fast_paths.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def test_pillow_loads_only_when_an_image_arrives() -> None:
    """A cold start answering an array never runs Pillow's code (~15 ms); an image request still works."""
    child = """
import base64, io, json, sys
from api.app.http import Request
from api.app.inputs import read_inputs
array = json.dumps({"image": [[(r * c) % 256 for c in range(28)] for r in range(28)]}).encode()
read_inputs(Request("POST", "/predict", {"content-type": "application/json"}, array))
before = "PIL.ExifTags" in sys.modules  # imported by PIL.Image as it runs
png = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAAAAABX3VL4AAAADklEQVR4nGNg+M/"
                       "wnwEABgAB/4/x/JoAAAAASUVORK5CYII=")
try:
    outcome = read_inputs(Request("POST", "/predict", {"content-type": "image/png"}, png)).form
except Exception as exc:  # noqa: BLE001 - decoded or refused, Pillow has run either way
    outcome = type(exc).__name__
print(json.dumps([before, "PIL.ExifTags" in sys.modules, outcome]))
"""
    repo = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", child],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=repo,
        env={**os.environ, "PYTHONPATH": str(repo)},
    )
    assert done.returncode == 0, done.stderr
    before, after, outcome = json.loads(done.stdout)
    assert (before, after) == (False, True), outcome
