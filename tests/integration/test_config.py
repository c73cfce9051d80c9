"""config.json outside the test process: parsing it needs no Keras, and `python -m ml_model train`
refuses a bad or missing config in one line before touching any data."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support.config_support import SEED_CONFIG, seed_with

REPO = Path(__file__).resolve().parents[2]


def test_parsing_a_config_needs_no_keras(tmp_path: Path) -> None:
    # A config Keras would reject still parses: checking the layers is the trainer's building step.
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(seed_with("layers.3.parameters.kernalSize", 3)))
    script = (
        "import sys; from ml_model.config import load_config; "
        f"config = load_config({str(config_file)!r}); "
        "print(config.epochs, len(config.layers), sorted(m for m in ('keras', 'tensorflow') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [str(SEED_CONFIG["epochs"]), str(len(SEED_CONFIG["layers"])), "[]"]


def test_cli_refuses_bad_config_before_touching_data(tmp_path: Path) -> None:
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(seed_with("layers.3.parameters.kernalSize", 3)))
    cache = tmp_path / "cache"
    done = subprocess.run(
        [sys.executable, "-m", "ml_model", "train", "--config", str(config_file), "--cache-dir", str(cache)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert errors == [
        "error: config.json: layers[3] (conv2d): unknown parameter 'kernalSize' (did you mean 'kernelSize'?)"
    ]
    assert not cache.exists()  # no data was fetched or cached


def test_cli_missing_config_file(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ml_model", "train", "--config", str(tmp_path / "nope.json")],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert done.returncode == 2 and "no such config file" in done.stderr and "Traceback" not in done.stderr
