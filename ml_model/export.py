"""Export a trained model in the "Export layout" of docs/training.md, and check an export against its manifest.

An export is assembled in a hidden folder beside its final place and moved there only when every
file is written, `model.json` last; then `exports/latest` (a symbolic link) is switched to it in one
rename. An interrupted export therefore never replaces the previous one or `latest`.
"""

from __future__ import annotations

import logging
import platform
import shutil
import tarfile
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from api.runtime.manifest import (
    ARTIFACT_FILES,
    FORMAT,
    FORMAT_VERSION,
    IMAGE_SHAPE,
    INPUT_NAME,
    LABELS,
    LATEST,
    MANIFEST_NAME,
    READER,
    READER_VARIANT_ARTIFACTS,
    READER_VARIANT_FILES,
    SAVED_MODEL_DIR,
    SAVEDMODEL,
    TFJS,
    TFJS_DIR,
    TFLITE,
    VARIANT_ARTIFACTS,
    tfjs_shard_key,
)

from .artifacts import QUANTISED_FILES, artifact_entry, assembling, new_version, point_latest, write_json
from .errors import ExportError
from .quantize import add_variants
from .tfjs import write_tfjs

if TYPE_CHECKING:
    import keras

    from .data import Mnist

log = logging.getLogger(__name__)

# Every file of an export by its artifact key: the model files, then the training record.
FILES = {**ARTIFACT_FILES, "history": "history.json", "curves": "history.png"}


def export_model(
    model: keras.Model,
    export_dir: Path,
    *,
    config: Mapping[str, Any],
    metrics: Mapping[str, Any],
    history: Mapping[str, list[float]],
    training: Mapping[str, Any] | None = None,
    mnist: Mnist | None = None,
    extra: Mapping[str, Any] | None = None,
    check: Callable[[Path], None] | None = None,
    reader: tuple[Mapping[str, Path], Mapping[str, Any]] | None = None,
) -> Path:
    """Write the export to `export_dir` and point `<its parent>/latest` at it; returns `export_dir`.

    With `mnist`, the export also carries the quantised `.tflite` variants, calibrated on its training
    images and measured on its test images (`ml_model.quantize`). `extra` adds top-level manifest keys
    (an import's `importedFrom`). `check` is called with the finished hidden folder before it is
    renamed into place; whatever it raises stops the export with nothing written. Every export
    carries the model as TF.js too (`tfjs/`, `ml_model.tfjs`). `reader` is the number reader's
    `.tflite` files by precision and its manifest section (`ml_model.reader`), copied in as
    `reader.tflite` and `reader-int8.tflite`.
    """
    export_dir = Path(export_dir)
    if export_dir.name == LATEST:
        raise ExportError("an export cannot be named 'latest': that name is the link to the newest one")
    with assembling(export_dir) as partial:
        partial.mkdir()
        tfjs_files = write_tfjs(model, partial / TFJS_DIR)  # first: it refuses layers TF.js lacks
        _write_artifacts(model, partial, history)
        variants = None
        if mnist is not None:
            variants = add_variants(partial, partial / SAVED_MODEL_DIR, mnist)
        manifest = _manifest(partial, export_dir.name, config, metrics, training or {}, variants)
        manifest["artifacts"].update(tfjs_artifacts(partial, tfjs_files))
        if reader is not None:
            files, section = reader
            for precision, path in files.items():
                shutil.copyfile(path, partial / READER_VARIANT_FILES[precision])
                key = READER_VARIANT_ARTIFACTS[precision]
                manifest["artifacts"][key] = artifact_entry(partial, READER_VARIANT_FILES[precision])
            manifest[READER] = dict(section)
        manifest.update(extra or {})
        write_json(partial / MANIFEST_NAME, manifest)
        if check is not None:
            check(partial)
    point_latest(export_dir)
    log.info("Exported %s (version %s) to %s", export_dir.name, manifest["version"], export_dir)
    return export_dir


def _write_artifacts(model: keras.Model, folder: Path, history: Mapping[str, list[float]]) -> None:
    import tensorflow as tf

    saved_model = folder / SAVED_MODEL_DIR
    model.export(str(saved_model), format="tf_saved_model", verbose=False)
    with tarfile.open(folder / FILES[SAVEDMODEL], "w:gz") as archive:
        archive.add(saved_model, arcname=SAVED_MODEL_DIR, filter=_reproducible)
    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model))
    (folder / FILES[TFLITE]).write_bytes(converter.convert())
    write_json(folder / FILES["history"], {k: [float(v) for v in vs] for k, vs in history.items()})
    plot_history(history, folder / FILES["curves"])


def tfjs_artifacts(folder: Path, files: list[str]) -> dict[str, Any]:
    """The manifest's entries for the TF.js model written into `folder/tfjs`: `model.json`, then its shards."""
    model_json, *shards = files
    entries = {TFJS: artifact_entry(folder, f"{TFJS_DIR}/{model_json}")}
    for index, shard in enumerate(shards, start=1):
        entries[tfjs_shard_key(index)] = artifact_entry(folder, f"{TFJS_DIR}/{shard}")
    return entries


def _reproducible(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def _manifest(
    folder: Path,
    name: str,
    config: Mapping[str, Any],
    metrics: Mapping[str, Any],
    training: Mapping[str, Any],
    variants: Mapping[str, Any] | None,
) -> dict[str, Any]:
    now = datetime.now(UTC)
    artifacts = {key: artifact_entry(folder, filename) for key, filename in FILES.items()}
    if variants:
        for precision, filename in QUANTISED_FILES.items():
            artifacts[VARIANT_ARTIFACTS[precision]] = artifact_entry(folder, filename)
    manifest = {
        "format": FORMAT,
        "formatVersion": FORMAT_VERSION,
        "version": new_version(now),
        "name": name,
        "created": now.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "input": {
            "name": INPUT_NAME,
            "shape": [None, *IMAGE_SHAPE],
            "dtype": "float32",
            "range": [0.0, 1.0],
            "layout": "NHWC, white digit on black, as MNIST",
        },
        "output": {"shape": [None, len(LABELS)], "dtype": "float32", "meaning": "class probabilities"},
        "labels": list(LABELS),
        "artifacts": artifacts,
        "signature": "serving_default",
        "savedModelDir": SAVED_MODEL_DIR,
        "config": dict(config),
        "metrics": {"test": dict(metrics)},
        "training": dict(training),
        "versions": _framework_versions(),
    }
    if variants:
        manifest["variants"] = dict(variants)
    return manifest


def _framework_versions() -> dict[str, str]:
    import keras
    import numpy
    import tensorflow as tf

    versions = {
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": numpy.__version__,
    }
    try:
        from importlib.metadata import version

        versions["ai-edge-litert"] = version("ai-edge-litert")
    except Exception:  # noqa: BLE001 - optional: the export is valid without LiteRT installed
        pass
    return versions


def plot_history(history: Mapping[str, list[float]], path: Path) -> None:
    """Loss and accuracy per epoch, training and validation, as one PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), dpi=100)
    for ax, metric in zip(axes, ("loss", "accuracy")):
        for key, style in ((metric, "-"), (f"val_{metric}", "--")):
            if history.get(key):
                epochs = range(1, len(history[key]) + 1)
                ax.plot(epochs, history[key], style, marker="o", markersize=3, label=key)
        ax.set_title(metric)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend()
    fig.tight_layout()
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)
