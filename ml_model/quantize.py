"""Quantised `.tflite` variants of an export, each measured on the MNIST test set.

Besides the float32 `model.tflite`, an export carries:

- `model-float16.tflite`: weights stored as float16 (half the file); LiteRT computes in float32;
- `model-int8.tflite`: full-integer quantisation (int8 weights and activations, every op an integer
  kernel; float32 in and out), calibrated on a representative set drawn from the *training* images,
  so the test set never influences the model.

Each variant, float32 included, is run through LiteRT on the whole test set: accuracy and loss, how
often its digit agrees with float32's, the largest difference in any probability, and its median
single-image latency, timed in turns beside the others. `model.json` keeps these under `variants`;
the API serves the fastest one within 0.1 points of float32's accuracy (`api.runtime.manifest`).

An export with a number reader also gets (or has redone) its int8 reader, `reader-int8.tflite`, and
the reader section's `variants` (`ml_model.reader.add_int8`).
"""

from __future__ import annotations

import logging
import shutil
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from api.runtime.manifest import (
    FLOAT16,
    FLOAT32,
    INT8,
    MANIFEST_NAME,
    READER,
    READER_INT8,
    READER_VARIANT_FILES,
    SAVED_MODEL_DIR,
    VARIANT_ARTIFACTS,
    VARIANT_FILES,
)
from api.runtime.predictor import LiteRTPredictor

from .artifacts import QUANTISED_FILES, artifact_entry, assembling, new_version, verify_export, write_json
from .data import Mnist, load_mnist, to_model_input
from .errors import ExportError
from .evaluate import predict_all, scores
from .reader import add_int8

log = logging.getLogger(__name__)

# The quantised variants this module writes; float32 is the export's own model.tflite.
REPRESENTATIVE_IMAGES = 500  # calibration images for int8, drawn at random from the training set
REPRESENTATIVE_SEED = 0
TIMING_ROUNDS = 5
TIMED_CALLS = 100  # per variant and round


def convert_variants(saved_model: Path, folder: Path, train_images: np.ndarray) -> dict[str, str]:
    """Write the float16 and int8 models of `saved_model` into `folder`; precision → file name."""
    import tensorflow as tf

    rng = np.random.default_rng(REPRESENTATIVE_SEED)
    picked = rng.choice(len(train_images), size=min(REPRESENTATIVE_IMAGES, len(train_images)), replace=False)
    calibration = to_model_input(train_images[np.sort(picked)])

    def representative() -> Any:
        for image in calibration:
            yield [image[np.newaxis]]

    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model))
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.target_spec.supported_types = [tf.float16]
    (folder / QUANTISED_FILES[FLOAT16]).write_bytes(converter.convert())

    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model))
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    # Integer kernels only: the conversion fails rather than leave an op in float.
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    (folder / QUANTISED_FILES[INT8]).write_bytes(converter.convert())
    return dict(QUANTISED_FILES)


def measure_variants(folder: Path, files: dict[str, str], mnist: Mnist) -> dict[str, dict[str, Any]]:
    """Each variant's test-set scores and latency (the `variants` entries of model.json)."""

    images, labels = to_model_input(mnist.test_images), mnist.test_labels
    predictors = {precision: LiteRTPredictor(folder / name, num_threads=1) for precision, name in files.items()}
    probabilities = {precision: predict_all(p, images) for precision, p in predictors.items()}
    reference = probabilities[FLOAT32]
    latency = _single_image_latency(predictors, images[:1])
    variants = {}
    for precision, probs in probabilities.items():
        variants[precision] = {
            "artifact": VARIANT_ARTIFACTS[precision],
            **{k: v for k, v in scores(probs, labels).items() if k in ("accuracy", "loss", "count")},
            "msPerImage": round(latency[precision], 4),
            "agreement": float(np.mean(probs.argmax(axis=1) == reference.argmax(axis=1))),
            "maxProbabilityDifference": round(float(np.max(np.abs(probs - reference))), 6),
        }
        log.info(
            "%-8s accuracy %.4f  agreement with float32 %.4f  %.3f ms per image",
            precision,
            variants[precision]["accuracy"],
            variants[precision]["agreement"],
            latency[precision],
        )
    return variants


def _single_image_latency(predictors: dict[str, LiteRTPredictor], image: np.ndarray) -> dict[str, float]:
    """Median milliseconds of one single-image inference per variant, the variants taking turns."""
    samples: dict[str, list[float]] = {precision: [] for precision in predictors}
    for predictor in predictors.values():
        for _ in range(10):  # allocation and caches, untimed
            predictor.predict(image)
    for _ in range(TIMING_ROUNDS):
        for precision, predictor in predictors.items():
            for _ in range(TIMED_CALLS):
                start = time.perf_counter()
                predictor.predict(image)
                samples[precision].append((time.perf_counter() - start) * 1000)
    return {precision: statistics.median(times) for precision, times in samples.items()}


def add_variants(folder: Path, saved_model: Path, mnist: Mnist) -> dict[str, dict[str, Any]]:
    """Write the quantised models into the export being assembled in `folder` and measure all variants."""
    files = {FLOAT32: VARIANT_FILES[FLOAT32], **convert_variants(saved_model, folder, mnist.train_images)}
    return measure_variants(folder, files, mnist)


def quantize_export(
    export_dir: str | Path,
    out: str | Path | None = None,
    *,
    mnist: Mnist | None = None,
    data_dir: str | Path | None = None,
    cache_dir: str | Path | None = None,
) -> Path:
    """Add (or redo) the quantised variants of an existing export, as a new version; returns its folder.

    The export is copied into a hidden folder, given the variants and a new manifest (a new version:
    the bucket keeps versions immutable), and renamed into place: over `export_dir` itself, or to
    `out`. An export written before quantisation existed thus gains its variants without retraining;
    one with a number reader gains (or redoes) `reader-int8.tflite` too, quantised from its
    `reader.tflite` and measured beside it (`ml_model.reader.add_int8`).
    """

    manifest = verify_export(export_dir)
    source = Path(export_dir).resolve()
    target = Path(out).absolute() if out else source
    saved_model = source / manifest.raw.get("savedModelDir", SAVED_MODEL_DIR)
    if not (saved_model / "saved_model.pb").is_file():
        raise ExportError(f"{export_dir}: no SavedModel folder to quantise from")
    if mnist is None:
        mnist = load_mnist(data_dir, cache_dir)
    with assembling(target) as partial:
        # Replaced at the top only: tfjs/model.json is TF.js's, kept.
        replaced = {MANIFEST_NAME, *QUANTISED_FILES.values(), READER_VARIANT_FILES[INT8]}

        def top_level(folder: str, names: list[str]) -> set[str]:
            return replaced & set(names) if Path(folder) == source else set()

        shutil.copytree(source, partial, ignore=top_level)
        variants = add_variants(partial, partial / saved_model.name, mnist)
        raw = dict(manifest.raw)
        artifacts = {
            k: v
            for k, v in raw["artifacts"].items()
            if k not in VARIANT_ARTIFACTS.values() or k == VARIANT_ARTIFACTS[FLOAT32]
        }
        for precision, filename in QUANTISED_FILES.items():
            artifacts[VARIANT_ARTIFACTS[precision]] = artifact_entry(partial, filename)
        if READER in manifest.artifacts:
            reader_variants = add_int8(partial, mnist)
            artifacts[READER_INT8] = artifact_entry(partial, READER_VARIANT_FILES[INT8])
            raw[READER] = {**raw[READER], "variants": reader_variants}
        now = datetime.now(UTC)
        raw.update(
            version=new_version(now),
            created=now.isoformat(timespec="seconds").replace("+00:00", "Z"),
            artifacts=artifacts,
            variants=variants,
            quantizedFrom=manifest.version,
        )
        write_json(partial / MANIFEST_NAME, raw)
    log.info("Quantised %s (version %s) into %s", manifest.version, raw["version"], target)
    return target
