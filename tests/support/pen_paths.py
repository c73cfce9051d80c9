"""MNIST test digits as pen strokes, for drawing them on the page with the mouse or a finger.

The strokes come from `ml_model/corpus/pen_trace.py`, the tracer the picture corpus (`ml_model/corpus/digits.py`) draws
its canvas kinds with: points (x, y) in [0, 1] of the 28x28 frame, ready to be scaled onto a canvas.
"""

from __future__ import annotations

import numpy as np

from ml_model.corpus.pen_trace import Stroke, trace

__all__ = ["Stroke", "traced_digits"]


def traced_digits(images: np.ndarray, labels: np.ndarray, per_class: int) -> list[tuple[int, list[Stroke]]]:
    """The first `per_class` digits of every class (in data-set order), as (label, strokes)."""
    return [
        (label, trace(images[index])) for label in range(10) for index in np.flatnonzero(labels == label)[:per_class]
    ]
