"""A deterministic corpus of written numbers (2-8 digits) made only from MNIST *test* digits.

Each number is laid out in digit heights: every digit gets its own height (MAX_HEIGHT_SPREAD of
the number's), the baseline slants (up to MAX_SLANT digit heights per digit) and wanders a little,
and the gaps between neighbours' ink follow a spacing class:

- `wide`: gaps of 0.25-0.6 digit heights; `close`: 0-0.2 (both "separated": gap >= 0);
- `kerned`: column spans overlap by up to a fifth of a digit height, the ink does not touch;
- `touching`: one pair's strokes touch (moved together until they overlap by a pixel or two; the
  two digits are one blob), the other gaps close;
- `overlapping`: one pair pushed a further 0.1-0.2 digit heights into each other (strokes cross).

The ink of each digit is made as `digits.py` makes a single digit's (pen paths traced from
the digit and drawn with a round pen for the canvas and pen kinds, the digit's own ink smoothly
enlarged for the paper kinds), then finished on the kind's page as a single digit is (`pages`: paper, noise,
lighting, JPEG). Each sample also carries every digit *alone*: the same ink on a page of the same
kind by itself, which is what a perfect segmenter would hand the single-digit reader (the ceiling).
numpy and Pillow only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
from PIL import Image

from ml_model.corpus.pages import (
    chalk_on_board,
    faint_page,
    fine_pen_page,
    marker_page,
    photographed_page,
    scanned_page,
    transparent_canvas,
    white_canvas,
)
from ml_model.corpus.render import enlarge, pen_strokes

SPACINGS = ("wide", "close", "kerned", "touching", "overlapping")
SEPARATED = ("wide", "close")  # gap >= 0
MIN_DIGITS, MAX_DIGITS = 2, 8
MAX_HEIGHT_SPREAD = 0.2  # a digit is 80-100 % of its number's height
MAX_SLANT = 0.08  # baseline rise per digit, in digit heights, either way
WANDER = 0.04  # each digit's baseline off the slanted line by up to this, in digit heights
INK = 0.5  # what counts as ink when measuring gaps and touching
MAX_SIDE = 1000  # pictures are at most this wide (decoding reduces them to 512 anyway)


@dataclass(frozen=True)
class Style:
    """How a kind draws: pen paths (pen width as a fraction of the digit height) or enlarged ink; its height range."""

    pen: tuple[float, float] | None  # None: the digit's own ink, enlarged
    height: tuple[float, float]  # the digit height in pixels
    finish: Callable[[np.ndarray, np.random.Generator], bytes]


# The kinds of digits.py a number is written in (same paper, pens, noise and light).
KINDS: dict[str, Style] = {
    "canvas_white": Style((0.06, 0.16), (110, 170), white_canvas),
    "canvas_transparent": Style((0.06, 0.16), (90, 170), transparent_canvas),
    "thin_pen": Style((0.02, 0.045), (110, 200), fine_pen_page),
    "thick_marker": Style((0.17, 0.24), (110, 170), marker_page),
    "scan": Style(None, (90, 170), scanned_page),
    "low_contrast": Style(None, (90, 170), faint_page),
    "uneven_light": Style(None, (120, 220), photographed_page),
    "chalkboard": Style(None, (100, 180), chalk_on_board),
}


@dataclass(frozen=True)
class NumberSample:
    kind: str
    spacing: str
    indices: tuple[int, ...]  # the MNIST test digits, left to right
    number: str  # their labels
    data: bytes  # the picture of the number
    alone: tuple[bytes, ...]  # each digit's ink alone on a page of the same kind


def _digit_ink(digit: np.ndarray, style: Style, height: float, pen: float) -> np.ndarray:
    """One digit's ink in [0, 1], cropped to its ink's columns and rows (a pixel of margin)."""
    frame = height * 28 / 20
    side = int(np.ceil(frame + pen)) + 2
    if style.pen is None:
        ink = enlarge(digit, max(8, int(round(frame))))
    else:
        ink = pen_strokes(digit, side, side, height, pen, pen / 2 + 1, pen / 2 + 1)
    rows, cols = np.flatnonzero((ink > 0.05).any(axis=1)), np.flatnonzero((ink > 0.05).any(axis=0))
    if len(rows) == 0:
        return np.zeros((2, 2), np.float32)
    return ink[max(0, rows[0] - 1) : rows[-1] + 2, max(0, cols[0] - 1) : cols[-1] + 2].astype(np.float32)


def _row_gap(a: np.ndarray, a_top: int, b: np.ndarray, b_top: int) -> float:
    """How far b's ink could move left (b placed flush against a's box) before it touches a's ink:
    the smallest, over shared rows, of a's blank right margin plus b's blank left margin."""
    gaps = []
    for row in range(max(a_top, b_top), min(a_top + a.shape[0], b_top + b.shape[0])):
        ra, rb = a[row - a_top] > INK, b[row - b_top] > INK
        if ra.any() and rb.any():
            gaps.append((a.shape[1] - 1 - np.flatnonzero(ra)[-1]) + np.flatnonzero(rb)[0])
    return float(min(gaps)) if gaps else float(min(a.shape[1], b.shape[1]))


def _layout(
    inks: list[np.ndarray], tops: list[int], spacing: str, height: float, rng: np.random.Generator
) -> list[int]:
    """Left edges of each digit's ink box for the spacing class."""
    count = len(inks)
    special = int(rng.integers(count - 1))  # the pair that touches or overlaps
    lefts = [0]
    for k in range(1, count):
        a, b = inks[k - 1], inks[k]
        flush = lefts[-1] + a.shape[1]  # b's box just right of a's
        if spacing == "wide":
            gap = rng.uniform(0.25, 0.6) * height
        elif spacing == "kerned":
            # boxes overlap, ink stays apart (at least two pixels)
            room = _row_gap(a, tops[k - 1], b, tops[k])
            gap = -min(rng.uniform(0.02, 0.2) * height, max(0.0, room - 2))
        elif spacing in ("touching", "overlapping") and k - 1 == special:
            room = _row_gap(a, tops[k - 1], b, tops[k])
            gap = -room - rng.uniform(1, 2.5)  # the strokes overlap by a pixel or two: one blob
            if spacing == "overlapping":
                gap -= rng.uniform(0.1, 0.2) * height
        else:
            gap = rng.uniform(0.0, 0.2) * height
        lefts.append(int(round(flush + gap)))
    return lefts


def number_ink(
    digits: list[np.ndarray], kind: str, spacing: str, rng: np.random.Generator
) -> tuple[np.ndarray, list[np.ndarray], tuple[int, int, int, int]]:
    """A number's ink in [0, 1] on its field, each digit's own ink, and the margins (top, bottom, left, right)."""
    style = KINDS[kind]
    height = float(rng.uniform(*style.height))
    count = len(digits)
    # Wide numbers are drawn smaller, so the picture stays under MAX_SIDE pixels wide.
    height = min(height, MAX_SIDE / (count * 0.95 + 1.0))
    pen = float(rng.uniform(*style.pen)) * height if style.pen else 0.0
    heights = [height * float(rng.uniform(1 - MAX_HEIGHT_SPREAD, 1.0)) for _ in digits]
    inks = [_digit_ink(d, style, h, pen) for d, h in zip(digits, heights)]
    slant = float(rng.uniform(-MAX_SLANT, MAX_SLANT)) * height
    # Bottoms of the digits' boxes (their baseline), slanted and wandering.
    bottoms = [k * slant + float(rng.uniform(-WANDER, WANDER)) * height for k in range(count)]
    tops_float = [b - ink.shape[0] for b, ink in zip(bottoms, inks)]
    lowest = min(tops_float)
    tops = [int(round(t - lowest)) for t in tops_float]
    lefts = _layout(inks, tops, spacing, height, rng)
    top, bottom = (int(rng.uniform(0.2, 0.7) * height) for _ in range(2))
    left, right = (int(rng.uniform(0.2, 0.8) * height) for _ in range(2))
    shift = -min(lefts)
    width = max(x + shift + ink.shape[1] for x, ink in zip(lefts, inks)) + left + right
    total = max(y + ink.shape[0] for y, ink in zip(tops, inks)) + top + bottom
    field = np.zeros((total, width), np.float32)
    for ink, y, x in zip(inks, tops, lefts):
        region = field[y + top : y + top + ink.shape[0], x + shift + left : x + shift + left + ink.shape[1]]
        np.maximum(region, ink, out=region)
    return field, inks, (top, bottom, left, right)


def compose(
    digits: list[np.ndarray], kind: str, spacing: str, rng: np.random.Generator
) -> tuple[bytes, tuple[bytes, ...]]:
    """The picture of a number written with these MNIST digits, and each digit alone on a page of the kind."""
    field, inks, (top, bottom, left, right) = number_ink(digits, kind, spacing, rng)
    finish = KINDS[kind].finish
    picture = finish(field, rng)
    alone = []
    for ink in inks:  # the same ink, alone, with the same margins around it
        page = np.zeros((ink.shape[0] + top + bottom, ink.shape[1] + left + right), np.float32)
        page[top : top + ink.shape[0], left : left + ink.shape[1]] = ink
        alone.append(finish(page, rng))
    return picture, tuple(alone)


def canvas_number(digits: list[np.ndarray], rng: np.random.Generator, size: tuple[int, int] = (560, 280)) -> bytes:
    """A drawing page's canvas (width, height) holding a number drawn with the pen, spaced closely (RGB PNG)."""
    field, _, _ = number_ink(digits, "canvas_white", "close", rng)
    width, height = size
    scale = min(width / field.shape[1], height / field.shape[0])
    drawn = Image.fromarray(field, "F").resize(
        (max(1, int(field.shape[1] * scale)), max(1, int(field.shape[0] * scale))), Image.Resampling.BILINEAR
    )
    canvas = np.zeros((height, width), np.float32)
    y, x = (height - drawn.height) // 2, (width - drawn.width) // 2
    canvas[y : y + drawn.height, x : x + drawn.width] = np.clip(np.asarray(drawn), 0, 1)
    return white_canvas(canvas, rng)


def number_indices(test_count: int, per_cell: int, seed: int = 0) -> dict[tuple[str, str], list[tuple[int, ...]]]:
    """Which MNIST test digits each (kind, spacing) cell's numbers use, 2-8 digits each: consecutive
    slices of one seeded permutation, wrapping round the test set when the corpus needs more digits."""
    rng = np.random.default_rng([seed, 1])
    order = np.random.default_rng(seed).permutation(test_count)
    cells, used = {}, 0
    for kind in KINDS:
        for spacing in SPACINGS:
            numbers = []
            for _ in range(per_cell):
                count = int(rng.integers(MIN_DIGITS, MAX_DIGITS + 1))
                numbers.append(tuple(int(i) for i in np.take(order, np.arange(used, used + count), mode="wrap")))
                used += count
            cells[kind, spacing] = numbers
    return cells


def number_rng(kind: str, spacing: str, indices: tuple[int, ...], seed: int = 0) -> np.random.Generator:
    """The random numbers of one picture: they depend only on (seed, kind, spacing, its digits)."""
    return np.random.default_rng([seed, list(KINDS).index(kind), SPACINGS.index(spacing), *indices])


def number_samples(
    digits: np.ndarray, labels: np.ndarray, kind: str, spacing: str, numbers: list[tuple[int, ...]], seed: int = 0
) -> Iterator[NumberSample]:
    """The pictures of one cell's numbers."""
    for indices in numbers:
        picture, alone = compose([digits[i] for i in indices], kind, spacing, number_rng(kind, spacing, indices, seed))
        yield NumberSample(kind, spacing, indices, "".join(str(int(labels[i])) for i in indices), picture, alone)
