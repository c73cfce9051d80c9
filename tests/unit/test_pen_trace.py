"""The pen-path tracer (ml_model/corpus/pen_trace.py) reproduces the digit it traces: loops stay closed,
corners grow no spurs, and filled-in loops come back as loops.

Real MNIST digits re-drawn along their paths: tests/slow/test_pen_trace.py.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from ml_model.corpus.pen_trace import FRAME, skeleton, trace


def drawn(shapes: list[tuple[str, tuple[float, ...], float]]) -> np.ndarray:
    """A 28x28 uint8 digit (white on black) drawn at 8x with Pillow and reduced by area, as MNIST's are."""
    image = Image.new("L", (FRAME * 8, FRAME * 8), 0)
    paint = ImageDraw.Draw(image)
    for shape, box, width in shapes:
        scaled = [8 * v for v in box]
        if shape == "ellipse":
            paint.ellipse(scaled, outline=255, width=round(8 * width)) if width else paint.ellipse(scaled, fill=255)
        else:
            paint.line(scaled, fill=255, width=round(8 * width), joint="curve")
    return np.asarray(image.resize((FRAME, FRAME), Image.Resampling.BOX))


def test_a_ring_is_one_closed_stroke_along_its_middle() -> None:
    strokes = trace(drawn([("ellipse", (7, 6, 21, 22), 2.5)]))
    assert len(strokes) == 1
    points = np.array(strokes[0]) * FRAME
    assert np.allclose(points[0], points[-1])  # closed: drawn, it leaves no gap
    # The middle of a ring from 0 to 2.5 pixels inside the ellipse (7..21 x 6..22): radii 5.75 and 6.75.
    radius = np.hypot((points[:, 0] - 14) / 5.75, (points[:, 1] - 14) / 6.75)
    assert np.abs(radius - 1).max() < 0.08


@pytest.mark.parametrize("corner", [(8, 6, 8, 21, 19, 21), (7, 6, 20, 6, 10, 22), (6, 6, 14, 22, 22, 6)])
def test_a_corner_grows_no_spur(corner: tuple[float, ...]) -> None:
    """Thinning grows a branch into a thick corner (an L, a 7, a V); the tracer keeps one bent stroke
    whose ends are the shape's own, short of them by at most the pen's radius (its round cap covers that)."""
    strokes = trace(drawn([("line", corner, 2.5)]))
    assert len(strokes) == 1, [len(s) for s in strokes]
    ends = sorted(tuple(point) for point in np.array([strokes[0][0], strokes[0][-1]]) * FRAME)
    first, last = sorted([corner[:2], corner[-2:]])
    assert np.hypot(*np.subtract(ends[0], first)) < 2 and np.hypot(*np.subtract(ends[1], last)) < 2, ends


def test_a_filled_in_loop_is_traced_as_a_loop() -> None:
    """A 9 whose loop the pen filled in: its head, twice as wide as its stem's stroke (here the pen
    it was written with: a head this large would dominate this sketch's mean width), is traced round
    its edge, not as a short line."""
    nine = drawn([("ellipse", (10, 4, 19, 13), 0), ("line", (18, 9, 17, 24), 2.2)])
    strokes = trace(nine, width=2.2)
    closed = [s for s in strokes if np.allclose(s[0], s[-1])]
    assert closed, strokes
    head = np.array(closed[0]) * FRAME
    assert len(head) > 20 and 10 < head[:, 0].min() < 12 and 17 < head[:, 0].max() < 19  # round the head,
    assert 4 < head[:, 1].min() < 6 and 11 < head[:, 1].max() < 13  # a pen's radius inside its edge


def thinned_by_definition(mask: np.ndarray) -> np.ndarray:
    """Zhang and Suen's thinning (1984) as the paper states it, pixel by pixel: the oracle for `skeleton`."""
    image = np.pad(mask.astype(int), 1)
    ring = [(-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1)]  # P2..P9
    while True:
        changed = False
        for sub_iteration in (0, 1):
            remove = []
            for r, c in zip(*np.nonzero(image)):
                p2, p3, p4, p5, p6, p7, p8, p9 = (image[r + dr, c + dc] for dr, dc in ring)
                around = [p2, p3, p4, p5, p6, p7, p8, p9, p2]
                a = sum(around[i] == 0 and around[i + 1] == 1 for i in range(8))
                if sub_iteration == 0:
                    side = p2 * p4 * p6 == 0 and p4 * p6 * p8 == 0
                else:
                    side = p2 * p4 * p8 == 0 and p2 * p6 * p8 == 0
                if 2 <= p2 + p3 + p4 + p5 + p6 + p7 + p8 + p9 <= 6 and a == 1 and side:
                    remove.append((r, c))
            for r, c in remove:
                image[r, c] = 0
            changed |= bool(remove)
        if not changed:
            return image[1:-1, 1:-1].astype(bool)


@pytest.mark.parametrize("seed", range(12))
def test_thinning_is_zhang_and_suens(seed: int) -> None:
    """`skeleton` (neighbourhoods looked up in a table) thins exactly as the paper's pixel-by-pixel rules
    do, on blobs, rings and strokes of every width (a random field smoothed and cut)."""
    rng = np.random.default_rng(seed)
    noise = Image.fromarray((rng.random((40, 48)) * 255).astype(np.uint8))
    field = noise.filter(ImageFilter.GaussianBlur(2 + seed % 3))
    values = np.asarray(field).astype(float)
    mask = values > np.quantile(values, 0.5 + 0.04 * (seed % 5))
    expected = thinned_by_definition(mask)
    assert mask.sum() > expected.sum() > 0
    assert np.array_equal(skeleton(mask), expected)
