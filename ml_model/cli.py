"""`python -m ml_model <command>`: the argument parser and the one place errors become exit codes.

Each subcommand is a function in `ml_model.commands`, a thin wrapper over the package's functions.

Every failure a user can cause ends here as one line on stderr and a non-zero exit code.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from api.runtime.manifest import IMPORTED_EXPORT, LATEST, PRECISIONS, RUNTIMES

from .commands import (
    cmd_deploy,
    cmd_evaluate,
    cmd_import_tfjs,
    cmd_quantize,
    cmd_rollback,
    cmd_serve,
    cmd_train,
    cmd_versions,
)
from .errors import BucketNotFound, UserError
from .native_log import native_notices_filtered

PACKAGE_DIR = Path(__file__).resolve().parent


DEFAULT_CONFIG = PACKAGE_DIR / "config.json"
DEFAULT_READER_CONFIG = PACKAGE_DIR / "reader.json"


DEFAULT_EXPORTS = PACKAGE_DIR / "exports"


log = logging.getLogger("ml_model")


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0-65535)")
    return port


def _add_bucket_options(parser: argparse.ArgumentParser, *, public_read: bool = False) -> None:
    parser.add_argument(
        "--env",
        default="production",
        help="read .env.ENV from the current folder, then the repo root (default: production); "
        "real environment variables win",
    )
    parser.add_argument("--bucket", help="bucket name (default: $MODEL_BUCKET_NAME)")
    parser.add_argument(
        "--endpoint-url", help="an S3-compatible endpoint (default: $AWS_ENDPOINT_URL_S3, $AWS_ENDPOINT_URL, else AWS)"
    )
    if public_read:
        parser.add_argument(
            "--public-read",
            action="store_true",
            help="make the objects readable by anyone on the internet (ACL public-read); "
            "off by default: prefer private objects and s3:// model URLs",
        )


def _add_data_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, help="a folder holding the MNIST IDX files (raw or .gz), tried first")
    parser.add_argument(
        "--cache-dir",
        type=Path,
        help="where verified MNIST files are kept (default: $MNIST_CACHE_DIR or ~/.cache/number-prediction/mnist)",
    )


def _add_export_argument(parser: argparse.ArgumentParser, name: str = "export") -> None:
    """The export folder to work on: a positional `export`, or deploy's `--export`."""
    options: dict[str, Any] = {} if name.startswith("-") else {"nargs": "?"}
    parser.add_argument(
        name,
        type=Path,
        default=DEFAULT_EXPORTS / LATEST,
        help=f"export folder (default: ml_model/exports/{LATEST})",
        **options,
    )


def _command(sub: Any, func: Any, summary: str, description: str) -> argparse.ArgumentParser:
    """The subcommand that runs `func` (`cmd_NAME` is the command NAME)."""
    parser = sub.add_parser(func.__name__.removeprefix("cmd_").replace("_", "-"), help=summary, description=description)
    parser.set_defaults(func=func)
    return parser


def _add_train(sub: Any) -> None:
    p = _command(
        sub,
        cmd_train,
        "train the CNN of a config on MNIST and export it",
        "Train the network described by a config.json on real MNIST, evaluate it "
        "on the test set and export it (SavedModel, .tflite, model.json).",
    )
    p.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="config file (default: ml_model/config.json)")
    p.add_argument("--epochs", type=int, help="override the config's epochs")
    p.add_argument("--batch-size", type=int, help="override the config's batchSize")
    p.add_argument("--seed", type=int, help="override the config's seed (reproducible training)")
    p.add_argument("--export-dir", type=Path, help="export here instead of the config's savePath")
    p.add_argument("--no-progress", action="store_true", help="no progress bars (epoch lines only)")
    p.add_argument(
        "--reader-config",
        type=Path,
        default=DEFAULT_READER_CONFIG,
        help="the number reader's config (default: ml_model/reader.json)",
    )
    p.add_argument("--no-reader", action="store_true", help="train the digit network only (no number reader)")
    p.add_argument("--reader-epochs", type=int, help="override the reader config's epochs")
    p.add_argument("--reader-lines", type=int, help="composed training lines per reader epoch (default: 24000)")
    _add_data_options(p)


def _add_export_commands(sub: Any) -> None:
    _export_command(
        sub,
        cmd_evaluate,
        "test-set loss and accuracy of an export",
        "Check an export against its manifest and measure it on the MNIST test set.",
        {
            "--runtime": {"choices": RUNTIMES, "help": "default: tflite when LiteRT is installed"},
            "--precision": {
                "choices": PRECISIONS,
                "help": "only this .tflite variant (default: every variant the export has)",
            },
            "--json": {"action": "store_true", "help": "print the scores as a JSON list, one entry per model"},
        },
    )
    _export_command(
        sub,
        cmd_quantize,
        "add float16 and int8 .tflite variants to an export",
        "Convert an export's SavedModel to float16 and full-integer int8 .tflite models "
        "(int8 calibrated on training images), measure every variant on the MNIST test "
        "set; quantise its number reader, if it has one, to reader-int8.tflite (calibrated "
        "on lines of training digits, measured beside reader.tflite on held-out lines); and "
        "write them with a new manifest as a new version: in place, or to --out.",
        {"--out": {"type": Path, "help": "write the quantised export here instead of replacing the export"}},
    )


def _export_command(sub: Any, func: Any, summary: str, description: str, options: dict[str, dict[str, Any]]) -> None:
    """A command on one export that reads MNIST: the export, its own `options` (flag → keywords), the data's."""
    parser = _command(sub, func, summary, description)
    _add_export_argument(parser)
    for flag, keywords in options.items():
        parser.add_argument(flag, **keywords)
    _add_data_options(parser)


def _add_bucket_commands(sub: Any) -> None:
    p = _command(
        sub,
        cmd_deploy,
        "upload an export to S3 and make it the latest version",
        "Upload every artifact of an export to s3://BUCKET/VERSION/, verify each one "
        "(size and SHA-256), then switch s3://BUCKET/latest/model.json to it in one "
        "write. A failed deploy leaves latest as it was; re-running is harmless.",
    )
    _add_export_argument(p, "--export")
    p.add_argument("--dry-run", action="store_true", help="show what would be uploaded; change nothing")
    _add_bucket_options(p, public_read=True)

    p = _command(
        sub,
        cmd_versions,
        "list the model versions in the bucket",
        "List the versions in the bucket: created, test accuracy, size, which one "
        "latest serves, and any incomplete upload.",
    )
    p.add_argument("--json", action="store_true", help="print the list as JSON")
    _add_bucket_options(p)

    p = _command(
        sub,
        cmd_rollback,
        "make an earlier version the latest",
        "Check that a version's objects are all in the bucket and match its manifest, "
        "then switch s3://BUCKET/latest/model.json to it in one write.",
    )
    p.add_argument(
        "version",
        nargs="?",
        help="version to serve, e.g. 2026-11-26T10-00-00Z (default: the one before the current latest)",
    )
    _add_bucket_options(p, public_read=True)


def _add_import(sub: Any) -> None:
    p = _command(
        sub,
        cmd_import_tfjs,
        "import a TF.js layers model (the original project's) as an export",
        "Read a TF.js layers model (model.json and its weight shards) from a folder, an "
        "http(s):// URL or s3://BUCKET/KEY, rebuild it in Keras, measure it on the MNIST test "
        "set and write a normal export (SavedModel, .tflite variants, tfjs/), ready for deploy.",
    )
    p.add_argument("source", help="a folder or its model.json, http(s)://.../model.json or s3://BUCKET/KEY")
    p.add_argument(
        "--out",
        type=Path,
        default=PACKAGE_DIR.parent / IMPORTED_EXPORT,
        help=f"export folder to write (default: {IMPORTED_EXPORT}; latest then points to it)",
    )
    p.add_argument("--env", default="production", help="read .env.ENV for s3:// credentials (default: production)")
    p.add_argument("--endpoint-url", help="an S3-compatible endpoint for an s3:// source")
    _add_data_options(p)


def _add_serve(sub: Any) -> None:
    p = _command(
        sub,
        cmd_serve,
        "serve the exports folder over HTTP for local development",
        "A static file server for ml_model/exports/, so that MODEL_URL="
        "http://localhost:3000/latest/model.json works during development. "
        "Ctrl-C stops it.",
    )
    p.add_argument("--root", type=Path, default=DEFAULT_EXPORTS, help="folder to serve (default: ml_model/exports)")
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to bind (default: 127.0.0.1; 0.0.0.0 exposes the models to your network)",
    )
    p.add_argument("--port", type=_port, default=3000, help="port (default: 3000; 0 picks a free one)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ml_model", description="Train, export, check, deploy and serve the number-prediction model."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log more detail")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in (_add_train, _add_export_commands, _add_import, _add_bucket_commands, _add_serve):
        add(sub)
    return parser


def _setup_logging(verbose: bool) -> None:
    # TensorFlow's C++ logging (oneDNN and CPU-feature notices, absl's "log messages before
    # InitializeLog" warning, tf.data's graph-version errors) is noise to a user: every real failure
    # also reaches Python as an exception. Set before TensorFlow is first imported (commands import lazily).
    if not os.environ.get("TF_CPP_MIN_LOG_LEVEL"):  # TensorFlow reads an empty value as 0, everything
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "1" if verbose else "3"
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format="%(message)s", stream=sys.stderr)
    for noisy in ("tensorflow", "absl", "h5py", "matplotlib", "botocore", "boto3", "urllib3", "s3transfer"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.verbose:
        return _run(args)
    with native_notices_filtered():
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    _setup_logging(args.verbose)
    try:
        return int(args.func(args) or 0)
    except UserError as exc:
        origin = getattr(args, "bucket_origin", None)
        hint = f"; create it, or fix {origin}" if isinstance(exc, BucketNotFound) and origin else ""
        print(f"error: {exc}{hint}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
