"""Real MNIST digits re-drawn along the paths the pen-path tracer (ml_model/corpus/pen_trace.py) traces
cover the ink they were traced from. The tracer's shapes drawn for one test: tests/unit/test_pen_trace.py."""

from __future__ import annotations

import numpy as np

from ml_model.corpus.pen_trace import FRAME, draw_strokes, stroke_width, trace


def test_real_digits_redrawn_along_their_paths_cover_their_own_ink(real_mnist) -> None:
    """The first 100 MNIST test digits re-drawn in their own 28x28 frame with their own stroke width
    share most of their ink with the originals (0.81 of it, intersection over union; a path shifted
    by a pixel, scaled wrong or missing a stroke falls well below)."""
    overlaps = []
    for digit in real_mnist.test_images[:100]:
        again = draw_strokes(trace(digit), FRAME, FRAME, FRAME, stroke_width(digit))
        ours, theirs = again > 0.5, digit > 127
        overlaps.append((ours & theirs).sum() / (ours | theirs).sum())
    assert np.mean(overlaps) > 0.78, np.mean(overlaps)
