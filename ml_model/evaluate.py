"""Test-set accuracy of an export, through the same predictor the API serves with."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from api.predictor import RuntimeUnavailable, open_export

from .data import Mnist, load_mnist, to_model_input
from .errors import ExportError
from .export import verify_export

BATCH = 1000


def evaluate_export(
    export_dir: str | Path,
    *,
    runtime: str | None = None,
    mnist: Mnist | None = None,
    data_dir: str | Path | None = None,
    cache_dir: str | Path | None = None,
) -> dict[str, float | int | str]:
    """Loss (categorical cross-entropy) and accuracy of the export on the MNIST test set."""
    manifest = verify_export(export_dir)
    try:
        predictor = open_export(export_dir, runtime)
    except (RuntimeUnavailable, ValueError) as exc:
        raise ExportError(str(exc)) from None
    if mnist is None:
        mnist = load_mnist(data_dir, cache_dir)
    images, labels = to_model_input(mnist.test_images), mnist.test_labels
    probabilities = np.concatenate([predictor.predict(images[i:i + BATCH]) for i in range(0, len(images), BATCH)])
    picked = probabilities[np.arange(len(labels)), labels]
    return {
        "version": manifest.version,
        "runtime": predictor.runtime,
        "count": int(len(labels)),
        "loss": float(-np.mean(np.log(np.clip(picked, 1e-7, 1.0)))),
        "accuracy": float(np.mean(probabilities.argmax(axis=1) == labels)),
    }
