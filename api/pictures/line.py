"""A picture of a written number → the line of ink the number reader reads: 32 pixels high, any width.

One function, `to_line`, used by the trainer on its synthetic pictures and by the API on what users
send, so the reader sees in training exactly what it sees in the Lambda. The ink is found as a
single digit's is (`api.pictures.paper`, `ink`, `blobs`: the paper and its light, the ink's polarity
and level, specks and page edges left out) on an analysis copy whose shorter side is at most
ANALYSIS_HEIGHT pixels; the kept ink is then cut from the full-resolution picture (`frame.ink_region`),
its band of rows scaled to INK_HEIGHT, light on dark as MNIST's digits are, with SIDE_MARGIN columns
of background on either side. `Line` keeps the mapping back to the picture's pixels, for the boxes
of the digits read.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from api.errors import InvalidRequest
from api.lazy import lazy_import
from api.pictures.blobs import BORDER_WEIGHT, INK_CUT, SPECK, Blobs, components, paint, weights
from api.pictures.frame import BOX, MNIST_STROKE, STROKE_SIZE, THIN, ink_region, widen
from api.pictures.ink import ink_level, no_digit
from api.pictures.morphology import stroke_width
from api.pictures.paper import Paper, analysis_copy, find_paper
from api.runtime.manifest import READER_HEIGHT, READER_MAX_WIDTH

# Pillow loads when an image first arrives (api.lazy).
Image = lazy_import("PIL.Image")

# The reader's input: rows of a line, the ink's band scaled into the middle INK_HEIGHT of them.
LINE_HEIGHT = READER_HEIGHT
INK_HEIGHT = 28
SIDE_MARGIN = 8  # columns of background left and right of the ink
# Strokes thinner than a single digit's floor (THIN of MNIST's median width, at the band's height) are
# widened to it, as for one digit: a fine pen's number would otherwise be hairlines at this scale.
MIN_STROKE = THIN * MNIST_STROKE * INK_HEIGHT / BOX
STROKE_FACTOR = STROKE_SIZE // BOX  # fine strokes are widened at this many times the band's height
# At most this many digits are read from one picture, and a line is at most MAX_LINE_WIDTH columns:
# 16 digits as wide as they are tall with a gap each, and the margins.
MAX_DIGITS = 16
MAX_LINE_WIDTH = READER_MAX_WIDTH  # 2 * MAX_DIGITS * LINE_HEIGHT + 2 * SIDE_MARGIN
# Separate marks one picture may have: a 16-digit number in several pieces per digit stays far under
# it; a page of thousands of dots is refused before any per-mark work.
MAX_MARKS = 6 * MAX_DIGITS
# The ink is found on a copy reduced until its shorter side is at most ANALYSIS_HEIGHT pixels and its
# longer at most ANALYSIS_LENGTH: a row of digits keeps its digits' height however long it is.
ANALYSIS_HEIGHT = 128
ANALYSIS_LENGTH = 768


class TooManyDigits(InvalidRequest):
    """The picture holds more than a number of MAX_DIGITS digits (or a page of marks)."""


def too_many(found: str) -> TooManyDigits:
    return TooManyDigits(f"the picture holds {found}; a number is read up to {MAX_DIGITS} digits")


@dataclass(frozen=True)
class Ink:
    """The paper, the ink's level and noise, and the blobs kept as the number's ink (analysis scale)."""

    grey: np.ndarray
    paper: Paper
    level: float
    noise: float
    blobs: Blobs
    kept: np.ndarray  # bool per blob


@dataclass(frozen=True)
class Line:
    """The reader's input for one picture, and where its columns lie in the picture."""

    image: np.ndarray  # float32 [LINE_HEIGHT, width] in [0, 1], ink light on dark
    ink: np.ndarray  # float32: the ink cut from the picture at its own resolution, before scaling
    top: int  # the picture row of `ink`'s first row
    left: int  # the picture column of `ink`'s first column
    scale: float  # line pixels per picture pixel (of `grey` as given)
    factor: float = 1.0  # the picture's own pixels per pixel of `grey` (a large picture is read reduced)

    def box(self, start: float, end: float) -> tuple[int, int, int, int]:
        """The picture's pixels (x, y, width, height) of the ink between line columns [start, end)."""
        low = max(0, int(np.floor((start - SIDE_MARGIN) / self.scale)))
        high = min(self.ink.shape[1], max(low + 1, int(np.ceil((end - SIDE_MARGIN) / self.scale))))
        rows = np.flatnonzero((self.ink[:, low:high] > 0.5).any(axis=1))
        cols = np.flatnonzero((self.ink[:, low:high] > 0.5).any(axis=0))
        y0, y1 = (int(rows[0]), int(rows[-1]) + 1) if len(rows) else (0, self.ink.shape[0])
        x0, x1 = (low + int(cols[0]), low + int(cols[-1]) + 1) if len(cols) else (low, high)
        f = self.factor
        x, y = round((self.left + x0) * f), round((self.top + y0) * f)
        return x, y, max(1, round((self.left + x1) * f) - x), max(1, round((self.top + y1) * f) - y)


def find_ink(grey: np.ndarray) -> Ink:
    """The paper, ink and blobs as `api.pictures.normalise.to_mnist` finds them, specks and page edges left out."""
    grey = np.asarray(grey)
    if grey.dtype != np.uint8:
        grey = grey.astype(np.float32, copy=False)
    scale = max(min(grey.shape) / ANALYSIS_HEIGHT, max(grey.shape) / ANALYSIS_LENGTH, 1.0)
    paper = find_paper(analysis_copy(grey, max(1, int(max(grey.shape) / scale))))
    level, noise = ink_level(paper.ink, paper.noise)
    blobs = components(paper.ink > INK_CUT * level, paper.ink)
    weight = weights(blobs)
    # As for one digit: a speck is a blob under SPECK of the heaviest's ink; a blob along a border is a page edge.
    kept = (weight >= SPECK * float(weight.max())) & (weight >= BORDER_WEIGHT * blobs.mass)
    tall, wide = blobs.bottom - blobs.top, blobs.right - blobs.left
    extent = int(np.maximum(tall, wide)[kept].max()) if kept.any() else 0
    # Specks on an empty page: against the shorter side, for a long strip's digits are small beside its length.
    if extent < max(2, min(blobs.shape) // 25):
        raise no_digit()
    return Ink(grey, paper, level, noise, blobs, kept)


def to_line(grey: np.ndarray, size: tuple[int, int] | None = None) -> Line:
    """Grey levels (0-255) of a picture of a written number → the line the reader reads. `size` is the
    picture's own (width, height) when `grey` is a reduced copy of it, for the boxes.

    NoDigit for a blank picture; TooManyDigits for a page of marks or a line too long to be a number
    of MAX_DIGITS digits.
    """
    ink = find_ink(grey)
    marks = int(ink.kept.sum())
    if marks > MAX_MARKS:
        raise too_many(f"{marks} separate marks")
    blobs, kept = ink.blobs, ink.kept
    box = (
        int(blobs.top[kept].min()),
        int(blobs.bottom[kept].max()),
        int(blobs.left[kept].min()),
        int(blobs.right[kept].max()),
    )
    crop, (top, left) = ink_region(ink.grey, ink.paper, paint(blobs, kept), box, ink.level, ink.noise)
    height, width = crop.shape
    scale = INK_HEIGHT / height
    columns = max(1, round(width * scale))
    if columns + 2 * SIDE_MARGIN > MAX_LINE_WIDTH:
        raise too_many(f"a line {columns / INK_HEIGHT:.0f} times as long as it is high")
    image = np.zeros((LINE_HEIGHT, columns + 2 * SIDE_MARGIN), np.float32)
    band = (LINE_HEIGHT - INK_HEIGHT) // 2
    ink = _scaled(crop, columns, scale)
    image[band : band + INK_HEIGHT, SIDE_MARGIN : SIDE_MARGIN + columns] = ink
    factor = size[0] / grey.shape[1] if size else 1.0
    return Line(image, crop, top, left, scale, factor)


def _scaled(crop: np.ndarray, columns: int, scale: float) -> np.ndarray:
    """The ink crop at `columns` x INK_HEIGHT, its strokes no thinner than MIN_STROKE there.

    A fine pen's strokes are measured on the crop (at the picture's resolution they are solid, however
    fine the pen) and widened at STROKE_FACTOR times the band's height before the final reduction, as a
    single digit's are at STROKE_SIZE. Brought to that size by the maximum of each block of pixels, not
    their mean, a hairline stays whole ink a pixel wide: averaged, it would be a faint, uneven grey that
    no widening makes solid again, and the reader would see broken strokes.
    """
    width = stroke_width(crop > 0.5) * scale
    if not 0 < width < MIN_STROKE:
        return _resized(crop, columns, INK_HEIGHT)
    block = crop.shape[0] // (INK_HEIGHT * STROKE_FACTOR)
    if block >= 2:
        rows, cols = -(-crop.shape[0] // block), -(-crop.shape[1] // block)
        padded = np.zeros((rows * block, cols * block), np.float32)
        padded[: crop.shape[0], : crop.shape[1]] = crop
        crop = padded.reshape(rows, block, cols, block).max(axis=(1, 3))
    fine = _resized(crop, columns * STROKE_FACTOR, INK_HEIGHT * STROKE_FACTOR)
    change = MIN_STROKE * STROKE_FACTOR - stroke_width(fine > 0.5)
    if change > 0:
        fine = np.minimum(widen(fine, change), 1.0)
    return _resized(fine, columns, INK_HEIGHT)


def _resized(ink: np.ndarray, width: int, height: int) -> np.ndarray:
    """`ink` at width x height: reduced by area (anti-aliased, as MNIST's digits were), enlarged bilinearly."""
    picture = Image.fromarray(ink.astype(np.float32, copy=False), "F")
    method = Image.Resampling.BOX if height <= ink.shape[0] else Image.Resampling.BILINEAR
    resized = np.asarray(picture.resize((width, height), method), dtype=np.float32)
    return np.clip(resized, 0.0, 1.0)
