"""Test-set accuracy of an export, through the same predictor the API serves with."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from api.runtime.manifest import FLOAT32, SAVEDMODEL
from api.runtime.predictor import Predictor, RuntimeUnavailable, choose_runtime, open_export

from .artifacts import verify_export
from .data import Mnist, load_mnist, to_model_input
from .errors import ExportError

BATCH = 1000


def predict_all(predictor: Predictor, images: np.ndarray) -> np.ndarray:
    """Probabilities for every image, in batches of BATCH."""
    return np.concatenate([predictor.predict(images[i : i + BATCH]) for i in range(0, len(images), BATCH)])


def scores(probabilities: np.ndarray, labels: np.ndarray) -> dict[str, float | int]:
    """Loss (categorical cross-entropy), accuracy and count of `probabilities` against `labels`."""
    picked = probabilities[np.arange(len(labels)), labels]
    return {
        "count": int(len(labels)),
        "loss": float(-np.mean(np.log(np.clip(picked, 1e-7, 1.0)))),
        "accuracy": float(np.mean(probabilities.argmax(axis=1) == labels)),
    }


def evaluate_export(
    export_dir: str | Path,
    *,
    runtime: str | None = None,
    precision: str | None = None,
    mnist: Mnist | None = None,
    data_dir: str | Path | None = None,
    cache_dir: str | Path | None = None,
) -> list[dict[str, float | int | str]]:
    """Loss and accuracy on the MNIST test set of each model the export carries.

    On LiteRT: every `.tflite` variant (float32, float16, int8), or only `precision`; on TensorFlow
    the SavedModel.
    """
    manifest = verify_export(export_dir)
    try:
        chosen = choose_runtime(runtime)
        precisions = [FLOAT32] if chosen == SAVEDMODEL else [precision] if precision else list(manifest.variants)
        predictors = {p: open_export(export_dir, chosen, p) for p in precisions}
    except (RuntimeUnavailable, ValueError) as exc:
        raise ExportError(str(exc)) from None
    if mnist is None:
        mnist = load_mnist(data_dir, cache_dir)
    images, labels = to_model_input(mnist.test_images), mnist.test_labels
    return [
        {
            "version": manifest.version,
            "runtime": predictor.runtime,
            "precision": p,
            **scores(predict_all(predictor, images), labels),
        }
        for p, predictor in predictors.items()
    ]
