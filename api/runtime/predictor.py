"""One predictor for every way in (Lambda, local server, CLI, tests): float32 [N, 28, 28, 1] → [N, 10].

Two runtimes run an export: LiteRT on `model.tflite` (what the Lambda bundle carries) and
TensorFlow on the SavedModel. This module imports only numpy at load time; each runtime's library
is imported when that runtime is chosen, so the bundle never needs TensorFlow.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

import numpy as np

from api.runtime.manifest import (
    FLOAT32,
    IMAGE_SHAPE,
    MANIFEST_NAME,
    RUNTIMES,
    SAVED_MODEL_DIR,
    SAVEDMODEL,
    TFLITE,
    parse_manifest,
)

# LiteRT writes this line to the process's stderr (file descriptor 2) from C++ the first time an
# interpreter allocates its tensors, with no setting to turn it off; `without_stderr_lines` holds it back.
XNNPACK_NOTICE = b"Created TensorFlow Lite XNNPACK delegate"
# Big batches run in passes of this many images: per image, 32 at a time is ~10 % faster than 256 in
# one pass (whose activations outgrow the caches), and resizing the interpreter's tensors for a
# smaller last pass costs nothing measurable (bench/batch_arrangements.py, BENCHMARKS.md).
CHUNK = 32
# The library each runtime needs (its module, and its name for messages): the Lambda bundle carries
# LiteRT only.
RUNTIME_LIBRARIES = {
    TFLITE: ("ai_edge_litert", "the 'ai-edge-litert' package"),
    SAVEDMODEL: ("tensorflow", "TensorFlow"),
}


class RuntimeUnavailable(RuntimeError):
    """The requested runtime's library is not installed."""

    def __init__(self, runtime: str) -> None:
        super().__init__(f"the {runtime} runtime needs {RUNTIME_LIBRARIES[runtime][1]}, which is not installed here")


class Predictor(Protocol):
    runtime: str

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """Probabilities [N, 10] for images [N, 28, 28, 1] in [0, 1], white digit on black."""


def installed(runtime: str) -> bool:
    """Whether `runtime`'s library can be imported here (found, not imported: TensorFlow takes seconds)."""
    return importlib.util.find_spec(RUNTIME_LIBRARIES[runtime][0]) is not None


def choose_runtime(requested: str | None = None) -> str:
    """`requested`, else LiteRT when installed, else TensorFlow; raises ValueError for an unknown name.

    The environment is not read here: the API reads MODEL_RUNTIME once, in `api.runtime.settings`.
    """
    runtime = (requested or "").strip().lower()
    if runtime and runtime not in RUNTIMES:
        raise ValueError(f"unknown model runtime {runtime!r}; use one of {', '.join(RUNTIMES)}")
    return runtime or (TFLITE if installed(TFLITE) else SAVEDMODEL)


def _check_batch(batch: np.ndarray) -> np.ndarray:
    batch = np.asarray(batch, dtype=np.float32)
    if batch.ndim != 4 or batch.shape[1:] != IMAGE_SHAPE:
        raise ValueError(f"expected images of shape [N, 28, 28, 1], got {list(batch.shape)}")
    return np.ascontiguousarray(batch)


class LiteRTPredictor:
    """LiteRT interpreter on a `.tflite` file; resizes its input only when the batch size changes."""

    runtime = TFLITE

    def __init__(self, path: str | Path, num_threads: int | None = None) -> None:
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError:
            raise RuntimeUnavailable(TFLITE) from None
        with without_stderr_lines(XNNPACK_NOTICE):
            self._interpreter = Interpreter(model_path=str(path), num_threads=num_threads)
            self._interpreter.allocate_tensors()  # where LiteRT applies its default (XNNPACK) delegate
        self._input = self._interpreter.get_input_details()[0]["index"]
        self._output = self._interpreter.get_output_details()[0]["index"]
        self._batch = -1
        self._lock = threading.Lock()  # an interpreter is not safe to share between threads

    def predict(self, batch: np.ndarray) -> np.ndarray:
        batch = _check_batch(batch)
        if len(batch) > CHUNK:
            return np.concatenate([self._run(batch[start : start + CHUNK]) for start in range(0, len(batch), CHUNK)])
        return self._run(batch)

    def _run(self, batch: np.ndarray) -> np.ndarray:
        with self._lock:
            if len(batch) != self._batch:
                self._interpreter.resize_tensor_input(self._input, list(batch.shape), strict=True)
                self._interpreter.allocate_tensors()
                self._batch = len(batch)
            self._interpreter.set_tensor(self._input, batch)
            self._interpreter.invoke()
            return self._interpreter.get_tensor(self._output).copy()


@contextmanager
def without_stderr_lines(unwanted: bytes) -> Iterator[None]:
    """Hold back what native code writes to file descriptor 2 meanwhile, then pass it on without the
    lines holding `unwanted`. A file, not a pipe, takes the output, so nothing can block on it."""
    sys.stderr.flush()
    try:
        saved = os.dup(2)
        held = tempfile.TemporaryFile()
    except OSError:  # no stderr to redirect, or nowhere to hold it: let the line through
        yield
        return
    try:
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
        held.seek(0)
        kept = b"".join(line for line in held if unwanted not in line)
        while kept:
            kept = kept[os.write(2, kept) :]
    finally:
        os.close(saved)
        held.close()


class SavedModelPredictor:
    """TensorFlow on a SavedModel folder, through its `serving_default` signature."""

    runtime = SAVEDMODEL

    def __init__(self, path: str | Path) -> None:
        # TensorFlow's C++ start-up notices would land in every `invoke local` answer and Lambda log;
        # read once, when TensorFlow is first imported, and a value the user set wins.
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        try:
            import tensorflow as tf
        except ImportError:
            raise RuntimeUnavailable(SAVEDMODEL) from None
        self._tf = tf
        loaded = tf.saved_model.load(str(path))
        self._loaded = loaded  # keep the object alive: the signature refers to its variables
        self._signature = loaded.signatures["serving_default"]
        self._input_name = next(iter(self._signature.structured_input_signature[1]))

    def predict(self, batch: np.ndarray) -> np.ndarray:
        batch = _check_batch(batch)
        outputs = self._signature(**{self._input_name: self._tf.constant(batch)})
        return next(iter(outputs.values())).numpy()


def open_export(export_dir: str | Path, runtime: str | None = None, precision: str = FLOAT32) -> Predictor:
    """A predictor for a local export folder (the one holding `model.json`); `precision` picks the `.tflite`."""
    export_dir = Path(export_dir)
    chosen = choose_runtime(runtime)
    if chosen == TFLITE:
        manifest = parse_manifest((export_dir / MANIFEST_NAME).read_bytes())
        return LiteRTPredictor(export_dir / manifest.artifact(manifest.variant(precision).artifact).path)
    return SavedModelPredictor(export_dir / SAVED_MODEL_DIR)
