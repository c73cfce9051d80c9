"""Train a config on real MNIST and print test accuracy, seconds per epoch and peak memory.

    python bench/train_accuracy.py ml_model/config.json            # the seed's network, 20 epochs
    python bench/train_accuracy.py ml_model/configs/best.json

The export goes to bench/results/<name>/ (not ml_model/exports), the figures to stdout and to
bench/results/<name>.json.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ml_model.config import load_config  # noqa: E402 - after the sys.path line above
from ml_model.train import train  # noqa: E402 - after the sys.path line above

RESULTS = REPO / "bench" / "results"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", type=Path)
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--tag", default="", help="suffix for the result files")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    config = load_config(args.config).with_overrides(epochs=args.epochs, seed=args.seed)
    name = config.export_name + (f"-{args.tag}" if args.tag else "")
    started = time.perf_counter()
    result = train(config, export_dir=RESULTS / name, progress=False)
    wall = time.perf_counter() - started
    figures = {
        "config": str(args.config),
        "seed": config.seed,
        "epochs": len(result.seconds_per_epoch),
        "test_loss": round(result.metrics["loss"], 4),
        "test_accuracy": round(result.metrics["accuracy"], 4),
        "median_seconds_per_epoch": round(statistics.median(result.seconds_per_epoch), 1),
        "training_seconds": round(sum(result.seconds_per_epoch), 1),
        "wall_seconds_including_data_and_export": round(wall, 1),
        "peak_memory_mb": round(result.peak_memory_mb),
        "cpus": os.cpu_count(),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(figures, indent=2) + "\n")
    width = max(len(k) for k in figures)
    for key, value in figures.items():
        print(f"{key:<{width}}  {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
