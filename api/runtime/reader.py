"""The number reader's runtime: `reader.tflite` (or `reader-int8.tflite`, float32 in and out as well) run
by LiteRT on one line, its input resized to the line's width.

The reader is fully convolutional: one forward pass per picture, whatever its width, gives one
distribution per column step over the ten digits and the blank; how many columns a step is (its
`stride`) is the model's own, measured once when it loads. The interpreter's input is resized
only when the width changes (widths are rounded up to a multiple of WIDTH_STEP, so similar lines
share an allocation). Where LiteRT is not installed, TensorFlow's own interpreter runs the same file.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from api.runtime.manifest import READER_CLASSES, READER_HEIGHT, READER_WIDTH_MULTIPLE
from api.runtime.predictor import XNNPACK_NOTICE, RuntimeUnavailable, without_stderr_lines

# Line widths are padded (with background) to a multiple of this many columns before a pass (similar
# widths share one allocation of the interpreter).
WIDTH_STEP = 4 * READER_WIDTH_MULTIPLE


class LiteRTReader:
    """A `.tflite` reader: float32 [READER_HEIGHT, width] line → float32 [steps, READER_CLASSES]."""

    def __init__(self, path: str | Path, num_threads: int | None = None) -> None:
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError:
            try:
                from tensorflow.lite import Interpreter  # the same interpreter, inside TensorFlow
            except ImportError:
                raise RuntimeUnavailable("tflite") from None
        with without_stderr_lines(XNNPACK_NOTICE):
            self._interpreter = Interpreter(model_path=str(path), num_threads=num_threads)
        self._input = self._interpreter.get_input_details()[0]["index"]
        self._output = self._interpreter.get_output_details()[0]["index"]
        self._width = -1
        self._lock = threading.Lock()  # an interpreter is not safe to share between threads
        # Columns per step: the steps of a blank line WIDTH_STEP columns wide.
        self.stride = WIDTH_STEP // len(self.run(np.zeros((READER_HEIGHT, WIDTH_STEP), np.float32)))

    def run(self, line: np.ndarray) -> np.ndarray:
        """Per-step probabilities of one line (its columns padded to a multiple of WIDTH_STEP), each step's
        summing to 1: the int8 reader's softmax comes in steps of 1/256, eleven of them rounded, so its sum
        is off by a step or two; every step is divided by its sum (float32's moves by ~1e-7, argmax never)."""
        batch = padded(line)
        with self._lock:
            if batch.shape[2] != self._width:
                self._interpreter.resize_tensor_input(self._input, list(batch.shape), strict=False)
                self._interpreter.allocate_tensors()
                self._width = batch.shape[2]
            self._interpreter.set_tensor(self._input, batch)
            self._interpreter.invoke()
            out = self._interpreter.get_tensor(self._output)
        steps = out.reshape(-1, READER_CLASSES)
        return steps / steps.sum(axis=1, keepdims=True)


def padded(line: np.ndarray) -> np.ndarray:
    """One line as the reader's input, [1, READER_HEIGHT, width, 1], its width padded with background
    to a multiple of WIDTH_STEP: what `LiteRTReader.run` feeds, and what the int8 reader is calibrated on."""
    height, width = line.shape
    if height != READER_HEIGHT:
        raise ValueError(f"a line is {READER_HEIGHT} rows high, got {height}")
    batch = np.zeros((1, READER_HEIGHT, width + -width % WIDTH_STEP, 1), np.float32)
    batch[0, :, :width, 0] = line
    return batch
