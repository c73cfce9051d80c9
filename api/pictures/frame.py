"""Fitting ink into MNIST's frame: cropped to its ink, strokes adjusted, reduced into 20x20, centred in 28x28."""

from __future__ import annotations

import numpy as np

from api.lazy import lazy_import
from api.pictures.ink import MIN_CONTRAST, no_digit
from api.pictures.morphology import grow, stroke_width
from api.pictures.paper import Paper
from api.runtime.manifest import IMAGE_SIZE

# Pillow loads when an image first arrives (api.lazy).
Image = lazy_import("PIL.Image")


SIZE = IMAGE_SIZE  # MNIST images are 28x28...
BOX = 20  # ...with the digit fitted into the central 20x20

CENTRE = 14.0  # where MNIST puts the centre of mass (row and column index, measured on its test set)

# The digit is brought to this size to measure and adjust its strokes before the final reduction.
STROKE_SIZE = 4 * BOX

# MNIST's median stroke width in its 20x20 box (ink over half intensity), measured on the test set
# (7.4 pixels at STROKE_SIZE by `stroke_width`; its 10th-90th percentiles are 5.6 and 10.4).
MNIST_STROKE = 1.9

# Strokes thinner than THIN times MNIST's width (about its 10th percentile) are widened to that, by an
# amount that grows smoothly from zero (so no small change flips it). Thick strokes are left alone:
# MNIST has thick digits too, and eroding a marker's strokes cost 1.2 points on the benchmark's
# thick-marker pictures (it breaks thin joins and cannot reopen filled loops).
THIN = 0.8

# In the crop, ink under this fraction of its level (or three times the noise) is paper (a tenth kept
# a few more faint strokes of tight crops, +0.2 points, but let a shadow's edge into the digit).
CROP_FLOOR = 0.25


def digit_input(
    grey: np.ndarray, paper: Paper, mask: np.ndarray | None, box: tuple[int, int, int, int], level: float, noise: float
) -> np.ndarray:
    """The ink in `box` (analysis scale; `mask` as in `_ink_crop`) as MNIST's 28x28: cropped, sized, centred.

    Step 3's crop and step 4.
    """
    digit = _ink_crop(grey, paper, mask, box, level, noise)
    return _centre(_adjust_strokes(_resize(digit, STROKE_SIZE)))


def is_mnist_style(grey: np.ndarray, box: tuple[int, int, int, int]) -> bool:
    """A 28x28 light-on-dark digit already sized and centred as MNIST's are: used as it is."""
    top, bottom, left, right = box
    if max(bottom - top, right - left) > BOX + 2 or max(bottom - top, right - left) < BOX - 3:
        return False
    total = float(grey.sum())
    rows = float((grey.sum(axis=1) * np.arange(SIZE)).sum()) / total
    cols = float((grey.sum(axis=0) * np.arange(SIZE)).sum()) / total
    return abs(rows - CENTRE) <= 1.5 and abs(cols - CENTRE) <= 1.5 and float(np.median(grey[0])) < MIN_CONTRAST


def _ink_crop(
    grey: np.ndarray, paper: Paper, mask: np.ndarray | None, box: tuple[int, int, int, int], level: float, noise: float
) -> np.ndarray:
    """The digit's ink in [0, 1] at full resolution, cropped to its box (paper, specks and other marks removed).

    `mask` (analysis scale) is where the kept blobs are; None keeps everything in the box.
    """
    return ink_region(grey, paper, mask, box, level, noise)[0]


def ink_region(
    grey: np.ndarray, paper: Paper, mask: np.ndarray | None, box: tuple[int, int, int, int], level: float, noise: float
) -> tuple[np.ndarray, tuple[int, int]]:
    """`_ink_crop`'s ink, and where it lies in the picture: its top row and left column (full resolution)."""
    top, bottom, left, right = box
    height, width = grey.shape
    down, across = height / paper.ink.shape[0], width / paper.ink.shape[1]  # full pixels per analysis pixel
    margin = 1  # an analysis pixel around the box, for the anti-aliased edges
    y0, y1 = max(0, int((top - margin) * down)), min(height, int(np.ceil((bottom + margin) * down)))
    x0, x1 = max(0, int((left - margin) * across)), min(width, int(np.ceil((right + margin) * across)))
    # Analysis-scale maps (paper, weights) are enlarged under the crop only.
    region = (x0 / across, y0 / down, x1 / across, y1 / down)
    size = (x1 - x0, y1 - y0)

    def enlarged(values: np.ndarray) -> np.ndarray:
        image = Image.fromarray(values, "F").resize(size, Image.Resampling.BILINEAR, box=region)
        return np.asarray(image, dtype=np.float32)

    crop = grey[y0:y1, x0:x1]
    if paper.gain is None:  # flat paper: one level, no gain (subtracting it makes floats of uint8 levels)
        if paper.light:
            ink = np.subtract(crop, paper.level, dtype=np.float32)
        else:
            ink = np.subtract(255.0 - paper.level, crop, dtype=np.float32)
        if mask is not None:
            ink *= enlarged(mask)
    else:
        crop = crop.astype(np.float32, copy=False)
        weight = paper.gain if mask is None else paper.gain * mask
        ink = ((crop if paper.light else 255.0 - crop) - enlarged(paper.level)) * enlarged(weight)
    # Full-resolution noise is about `down` times the analysis image's (area averaging divided it by that).
    floor = max(CROP_FLOOR * level, 3.0 * noise * max(down, across))
    peak = max(level, floor + 1.0)
    # The digit is where the ink passes half its level; only that part is scaled to [0, 1].
    inked = ink > floor + 0.5 * (peak - floor)
    rows, cols = np.flatnonzero(inked.any(axis=1)), np.flatnonzero(inked.any(axis=0))
    if len(rows) == 0:
        raise no_digit()
    crop = _unit((ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1] - floor) * (1.0 / (peak - floor)))
    return crop, (y0 + int(rows[0]), x0 + int(cols[0]))


def _unit(values: np.ndarray) -> np.ndarray:
    """`values` (a new array, changed in place) clipped to [0, 1]; ufuncs skip np.clip's Python-level checks."""
    return np.minimum(np.maximum(values, 0.0, out=values), 1.0, out=values)


def _resize(digit: np.ndarray, size: int) -> np.ndarray:
    """Scale so the longer side is `size`, keeping the aspect ratio."""
    height, width = digit.shape
    scale = size / max(height, width)
    new = (max(1, round(width * scale)), max(1, round(height * scale)))
    image = Image.fromarray(digit.astype(np.float32, copy=False), "F")
    if scale < 1:  # reducing averages (MNIST's anti-aliasing), which keeps values in [0, 1]
        return np.asarray(image.resize(new, Image.Resampling.BOX), dtype=np.float32)
    # Enlarging interpolates smoothly, overshooting a little at edges.
    return _unit(np.array(image.resize(new, Image.Resampling.BICUBIC), dtype=np.float32))


def _adjust_strokes(digit: np.ndarray) -> np.ndarray:
    """Strokes (at STROKE_SIZE) no thinner than MNIST's usual range, and made crisp as MNIST's binary originals."""
    target = MNIST_STROKE * STROKE_SIZE / BOX
    width = stroke_width(digit > 0.5)
    if width < THIN * target:
        digit = widen(digit, THIN * target - width)
    return _unit((digit - 0.3) * (1 / 0.4))  # soft edges steepened around half ink


def widen(digit: np.ndarray, change: float) -> np.ndarray:
    """Strokes `change` pixels wider, a fraction of a pixel by blending two maximum filters' sizes."""
    size = 1 + change  # a maximum filter of size k widens a stroke by k - 1
    low = int(size) if int(size) % 2 else int(size) - 1
    fraction = (size - low) / 2
    near = grow(digit, low // 2)
    far = grow(near, 1)
    return (1 - fraction) * near + fraction * far


def _centre(digit: np.ndarray) -> np.ndarray:
    """The digit (at STROKE_SIZE) reduced by area into 28x28, its centre of mass at MNIST's, to a fraction of a pixel.

    One area reduction of a window placed at fractional coordinates both gives MNIST's
    anti-aliasing and avoids rounding the shift to whole pixels (which a little noise would flip).
    """
    factor = STROKE_SIZE / BOX
    height, width = digit.shape
    rows, cols = digit.sum(axis=1), digit.sum(axis=0)
    total = float(rows.sum())
    if total <= 0:
        raise no_digit()
    com_row = float(rows @ np.arange(height)) / total + 0.5
    com_col = float(cols @ np.arange(width)) / total + 0.5
    span = SIZE * factor
    # Where the window starts (in the digit's coordinates), kept so that the digit stays inside it.
    top = min(max(com_row - factor * (CENTRE + 0.5), height - span), 0.0)
    left = min(max(com_col - factor * (CENTRE + 0.5), width - span), 0.0)
    out = _coverage(top, factor, height) @ digit @ _coverage(left, factor, width).T
    return _unit(out * np.float32(1.0 / (factor * factor)))


def _coverage(start: float, step: float, length: int) -> np.ndarray:
    """How much of each of `length` unit pixels each of SIZE output pixels covers.

    Output pixel i spans [start + i step, start + (i + 1) step).
    """
    # The part of pixel p left of x is clip(x - p, 0, 1); an output pixel covers the difference at its two edges.
    edges = (start + step * np.arange(SIZE + 1, dtype=np.float32))[:, None] - np.arange(length, dtype=np.float32)
    left = np.minimum(np.maximum(edges, 0.0, out=edges), 1.0, out=edges)
    return left[1:] - left[:-1]
