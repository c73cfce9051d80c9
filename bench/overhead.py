"""Seconds per epoch: `python -m ml_model train` against a plain Keras script of the same network.

    python bench/overhead.py --epochs 3 --rounds 2

Runs the two alternately (plain, ours, plain, ours, ...) in fresh processes on the same machine, so
drift in machine load hits both; compares medians of the per-epoch times, leaving out each run's
first epoch (graph tracing). Prints both medians and their ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ml_model.data import default_cache_dir, ensure_files  # noqa: E402 - after the sys.path line above


def run_plain(cache: Path, epochs: int) -> list[float]:
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / "plain_keras.py"), str(cache), str(epochs)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])["seconds_per_epoch"]


def run_ours(epochs: int) -> list[float]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "exports" / "overhead"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "ml_model",
                "train",
                "--epochs",
                str(epochs),
                "--no-progress",
                "--no-reader",  # the digit network's training alone, as the plain script does
                "--export-dir",
                str(out),
            ],
            capture_output=True,
            text=True,
            check=True,
            cwd=REPO,
            env={**os.environ, "MNIST_MIRRORS": ""},
        )
        return json.loads((out / "model.json").read_text())["training"]["secondsPerEpoch"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    cache = default_cache_dir()
    ensure_files(cache)
    plain: list[float] = []
    ours: list[float] = []
    for round_ in range(1, args.rounds + 1):
        p = run_plain(cache, args.epochs)
        o = run_ours(args.epochs)
        print(f"round {round_}: plain {[round(t, 1) for t in p]}  ours {[round(t, 1) for t in o]}", flush=True)
        plain += p[1:]
        ours += o[1:]
    plain_median, ours_median = statistics.median(plain), statistics.median(ours)
    print(f"{'':<22}{'plain Keras':>12}{'ml_model':>12}")
    print(f"{'median s/epoch':<22}{plain_median:>12.2f}{ours_median:>12.2f}")
    print(f"{'epochs measured':<22}{len(plain):>12}{len(ours):>12}")
    print(f"ratio ml_model / plain: {ours_median / plain_median:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
