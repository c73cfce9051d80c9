"""`python -m ml_model <command>`: thin wrappers over the package's functions.

Every failure a user can cause ends here as one line on stderr and a non-zero exit code.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Sequence

from .errors import UserError

PACKAGE_DIR = Path(__file__).resolve().parent
DEFAULT_CONFIG = PACKAGE_DIR / "config.json"
DEFAULT_EXPORTS = PACKAGE_DIR / "exports"

log = logging.getLogger("ml_model")


def cmd_train(args: argparse.Namespace) -> int:
    from .config import load_config

    config = load_config(args.config).with_overrides(epochs=args.epochs, batch_size=args.batch_size)
    from .train import train

    result = train(config, data_dir=args.data_dir, cache_dir=args.cache_dir, export_dir=args.export_dir,
                   progress=None if not args.no_progress else False)
    print(f"test loss {result.metrics['loss']:.4f}  test accuracy {result.metrics['accuracy']:.4f}")
    print(f"export: {result.export_dir}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .evaluate import evaluate_export

    scores = evaluate_export(args.export, runtime=args.runtime, data_dir=args.data_dir, cache_dir=args.cache_dir)
    if args.json:
        print(json.dumps(scores))
    else:
        print(f"{args.export}: version {scores['version']}, runtime {scores['runtime']}: "
              f"test loss {scores['loss']:.4f}  test accuracy {scores['accuracy']:.4f} ({scores['count']} images)")
    return 0


def _add_data_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, help="a folder holding the MNIST IDX files (raw or .gz), tried first")
    parser.add_argument("--cache-dir", type=Path,
                        help="where verified MNIST files are kept (default: $MNIST_CACHE_DIR or ~/.cache/number-prediction/mnist)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ml_model", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log more detail")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("train", help="train the CNN of a config on MNIST and export it",
                       description="Train the network described by a config.json on real MNIST, evaluate it "
                                   "on the test set and export it (SavedModel, .tflite, model.json).")
    p.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="config file (default: ml_model/config.json)")
    p.add_argument("--epochs", type=int, help="override the config's epochs")
    p.add_argument("--batch-size", type=int, help="override the config's batchSize")
    p.add_argument("--export-dir", type=Path, help="export here instead of the config's savePath")
    p.add_argument("--no-progress", action="store_true", help="no progress bars (epoch lines only)")
    _add_data_options(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="test-set loss and accuracy of an export",
                       description="Check an export against its manifest and measure it on the MNIST test set.")
    p.add_argument("export", type=Path, nargs="?", default=DEFAULT_EXPORTS / "latest",
                   help="export folder (default: ml_model/exports/latest)")
    p.add_argument("--runtime", choices=("tflite", "savedmodel"), help="default: tflite when LiteRT is installed")
    p.add_argument("--json", action="store_true", help="print the scores as JSON")
    _add_data_options(p)
    p.set_defaults(func=cmd_evaluate)

    return parser


def _setup_logging(verbose: bool) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ start-up chatter
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format="%(message)s", stream=sys.stderr)
    for noisy in ("tensorflow", "absl", "h5py", "matplotlib", "botocore", "boto3", "urllib3", "s3transfer"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _setup_logging(args.verbose)
    try:
        return int(args.func(args) or 0)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
