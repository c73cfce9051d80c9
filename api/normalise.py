"""A picture of one digit (grey levels, any size, polarity, lighting) → the 28x28 input MNIST was made of.

MNIST's digits are white ink on a black background, anti-aliased, fitted into 20x20 and centred by
centre of mass in 28x28. Pictures people send differ in every one of those, and in their paper:
noise, JPEG ringing, lighting gradients, shadows, specks, coloured or dark boards. The steps:

1. Paper, not ink, is estimated first, at a coarse scale: a morphological opening (a minimum then a
   maximum filter wider than any stroke) follows the paper under lighting gradients and shadow
   edges but cannot follow strokes, which are narrower than it. What stands above it (the
   "top-hat") is ink, for each polarity; the polarity whose ink stands out more wins, so a
   noisy or evenly lit page never flips it (noise adds the same to both sides).
2. The ink threshold is half the ink's own level (robust to noise, JPEG and soft edges, since it
   moves with the ink), and the noise floor is measured on the image rather than fixed.
3. The digit is the heaviest connected blob of ink (blobs cut by the border count less: paper
   edges, shadows) with the blobs near it that are more than specks; it is cropped by that ink,
   never by the paper.
4. At 4x the final size, strokes thinner than MNIST's are widened towards its width, and all are made
   crisp, then reduced by area to 20x20, which gives MNIST's anti-aliased edges; the result is
   centred by centre of mass in 28x28.

numpy and Pillow only: the Lambda bundle stays numpy + Pillow + LiteRT (scipy would add ~100 MB for
a minimum/maximum filter and a connected-components pass, written here in a few lines of numpy).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import InvalidRequest
from .lazy import lazy_import

# Pillow loads when an image first arrives (api.lazy).
Image = lazy_import("PIL.Image")
ImageFilter = lazy_import("PIL.ImageFilter")

SIZE = 28  # MNIST images are 28x28...
BOX = 20  # ...with the digit fitted into the central 20x20
CENTRE = 14.0  # where MNIST puts the centre of mass (row and column index, measured on its test set)
# The paper and the digit's place are found on a copy reduced to at most this many pixels a side:
# area averaging there also averages sensor noise away.
ANALYSIS_SIZE = 96
# Width of the opening that estimates the paper, as a fraction of the image's shorter side: wider
# than the thickest marker stroke of a digit filling the image (about a fifth of its height).
PAPER_WINDOW = 0.3
# The digit is brought to this size to measure and adjust its strokes before the final reduction.
STROKE_SIZE = 4 * BOX
# MNIST's median stroke width in its 20x20 box (ink over half intensity), measured on the test set
# (7.4 pixels at STROKE_SIZE by `_stroke_width`; its 10th-90th percentiles are 5.6 and 10.4).
MNIST_STROKE = 1.9
# Strokes thinner than THIN times MNIST's width (about its 10th percentile) are widened to that, by an
# amount that grows smoothly from zero (so no small change flips it). Thick strokes are left alone:
# MNIST has thick digits too, and eroding a marker's strokes cost 1.2 points on the benchmark's
# thick-marker pictures (it breaks thin joins and cannot reopen filled loops).
THIN = 0.8
# Ink must stand this many grey levels (of 255) above the paper, and this many times the paper's
# noise, to count as a digit at all.
MIN_CONTRAST = 24.0
MIN_SIGNAL_TO_NOISE = 6.0
# A blob is a speck, not part of the digit, below this fraction of the digit's main blob's ink.
SPECK = 0.04
# Blobs touching the border are most often paper edges or shadows; their ink counts this much.
BORDER_WEIGHT = 0.25
NO_DIGIT = "no digit found"


class NoDigit(InvalidRequest):
    """The image shows nothing that could be a digit (blank, uniform, or only noise)."""


def no_digit(what: str = "the image") -> NoDigit:
    """The 400 for a blank input, in the same words for pictures and arrays."""
    return NoDigit(f"{what} is blank or nearly uniform: {NO_DIGIT}")


def to_mnist(grey: np.ndarray) -> np.ndarray:
    """Grey levels (float32, 0-255) of one digit → MNIST-style float32 [28, 28] in [0, 1]."""
    grey = np.asarray(grey, dtype=np.float32)
    small = _reduce(grey)
    ink_small, paper_small, gain_small, light = _ink_and_polarity(small)
    level, noise = _ink_level(ink_small)
    box, blobs = _digit_box(ink_small, 0.5 * level)
    positive = grey if light else 255.0 - grey  # the ink lighter than the paper, as in MNIST
    if grey.shape == (SIZE, SIZE) and _is_mnist_style(positive, box):
        return positive / 255.0
    digit = _ink_crop(positive, paper_small, gain_small * blobs, box, level, noise)
    return _centre(_adjust_strokes(_resize(digit, STROKE_SIZE)))


def _reduce(grey: np.ndarray) -> np.ndarray:
    """The image area-averaged to at most ANALYSIS_SIZE a side."""
    height, width = grey.shape
    scale = max(height, width) / ANALYSIS_SIZE
    if scale <= 1.0:
        return grey
    size = (max(1, round(width / scale)), max(1, round(height / scale)))
    return np.asarray(Image.fromarray(grey, "F").resize(size, Image.Resampling.BOX), dtype=np.float32)


def _window(values: np.ndarray, size: int, reduce: np.ufunc) -> np.ndarray:
    """A square minimum or maximum (`reduce`: np.minimum / np.maximum) filter of `size`, edges repeated.

    Separable, and along each axis by doubling: windows of 1, 2, 4... pixels, then the answer for
    `size` as two overlapping power-of-two windows (a handful of whole-array operations).
    """
    for axis in (0, 1):
        moved = np.moveaxis(values, axis, 0)
        pad = size // 2
        table = np.concatenate([np.repeat(moved[:1], pad, 0), moved, np.repeat(moved[-1:], size - 1 - pad, 0)])
        span = 1
        while span * 2 <= size:
            table = reduce(table[:-span], table[span:])
            span *= 2
        length = moved.shape[0]
        values = np.moveaxis(reduce(table[:length], table[size - span:size - span + length]), 0, axis)
    return values


def _paper(values: np.ndarray) -> np.ndarray:
    """The paper under ink that is brighter than it: the opening, smoothed."""
    size = max(3, int(PAPER_WINDOW * min(values.shape)) | 1)
    opened = _window(_window(values, size, np.minimum), size, np.maximum)
    # The opening is blocky at its corners; averaging over a third of its width smooths it.
    return _smooth(opened, max(3, size // 3))


def _smooth(values: np.ndarray, size: int) -> np.ndarray:
    """`values` averaged over blocks of about size x size pixels, spread back smoothly (bilinear)."""
    height, width = values.shape
    image = Image.fromarray(values, "F")
    coarse = image.resize((max(1, round(width / size)), max(1, round(height / size))), Image.Resampling.BOX)
    return np.asarray(coarse.resize((width, height), Image.Resampling.BILINEAR), dtype=np.float32)


def _ink_and_polarity(small: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """Ink above the paper (grey levels), the paper and the light's gain (ink positive), and whether the ink is lighter than its paper.

    The paper is most of the picture, so a coarse local median follows it (lighting included);
    the strokes depart from it one way, while noise, JPEG ringing and shadow edges depart both
    ways alike, so comparing the two sides' departures has a wide margin. Light multiplies paper
    and ink alike, so ink is measured relative to the paper's brightness where it lies: a stroke
    in a shadow is as strong as one in the light.
    """
    departure = small - _local_median(small)
    base, spread = _noise(departure)
    light = _strength(departure - base, spread) > _strength(base - departure, spread)
    values = small if light else 255.0 - small
    paper = _paper(values)
    brightness = np.maximum(paper if light else 255.0 - paper, MIN_CONTRAST)
    gain = (float(np.median(brightness[::3, ::3])) / brightness).astype(np.float32)
    return (values - paper) * gain, paper, gain, light


def _local_median(values: np.ndarray, cells: int = 5) -> np.ndarray:
    """The median of each of about cells x cells blocks (a 3x3 median of blocks mends ink-filled ones), smoothly spread.

    Every other pixel of each block, both ways, is enough for its median, in a quarter of the time.
    """
    height, width = values.shape
    size = max(2, -(-max(height, width) // cells))
    size += size % 2
    rows, cols = -(-height // size), -(-width // size)
    padded = np.pad(values, ((0, rows * size - height), (0, cols * size - width)), mode="edge")[::2, ::2]
    half = size // 2
    blocks = np.median(padded.reshape(rows, half, cols, half).transpose(0, 2, 1, 3).reshape(rows, cols, -1), axis=2)
    around = np.pad(blocks, 1, mode="edge")
    mended = np.median(np.stack([around[r:r + rows, c:c + cols] for r in range(3) for c in range(3)]), axis=0)
    spread = Image.fromarray(mended.astype(np.float32), "F").resize((cols * size, rows * size), Image.Resampling.BILINEAR)
    return np.asarray(spread, dtype=np.float32)[:height, :width]


def _strength(ink: np.ndarray, spread: float) -> float:
    """Ink standing clearly above the noise, summed."""
    return float(np.clip(ink - 4.0 * spread, 0.0, None).sum())


def _noise(ink: np.ndarray) -> tuple[float, float]:
    """The paper's level and spread in an ink image (median and robust standard deviation)."""
    sample = ink[::2, ::2]  # a quarter of the pixels estimate both as well, in a quarter of the time
    base = float(np.median(sample))
    spread = 1.4826 * float(np.median(np.abs(sample - base)))
    return base, max(spread, 0.5)


def _ink_level(ink: np.ndarray) -> tuple[float, float]:
    """The ink's own level (of its strongest pixels) and the paper's noise; NoDigit if no ink stands out."""
    base, spread = _noise(ink)
    count = min(ink.size, max(16, ink.size // 500))  # a tiny picture (1x1, 2x2) has fewer pixels than 16
    strongest = np.partition(ink.ravel(), ink.size - count)[ink.size - count:]
    level = float(np.median(strongest)) - base
    if level < max(MIN_CONTRAST, MIN_SIGNAL_TO_NOISE * spread):
        raise no_digit()
    return level, spread


def _digit_box(ink: np.ndarray, threshold: float) -> tuple[tuple[int, int, int, int], np.ndarray]:
    """Top, bottom, left, right (exclusive) of the digit in the analysis image, and where its blobs are; NoDigit if none."""
    components = _components(ink > threshold, ink)
    if not components:
        raise no_digit()
    height, width = ink.shape

    def weight(c: _Component) -> float:
        # Blobs cut by the border are most often paper edges, a table, a shadow or a ruled line:
        # they count less, and those spanning most of the picture count little.
        touches = c.top == 0 or c.left == 0 or c.bottom == height or c.right == width
        if not touches:
            return c.mass
        long = c.right - c.left > 0.6 * width or c.bottom - c.top > 0.6 * height
        return c.mass * (BORDER_WEIGHT * BORDER_WEIGHT if long else BORDER_WEIGHT)

    main = max(components, key=weight)
    if max(main.bottom - main.top, main.right - main.left) < max(2, max(height, width) // 25):
        raise no_digit()  # a speck on an empty page
    reach = 0.3 * max(main.bottom - main.top, main.right - main.left)
    kept = [main] + [c for c in components if c is not main
                     and c.top < main.bottom + reach and c.bottom > main.top - reach
                     and c.left < main.right + reach and c.right > main.left - reach
                     and weight(c) >= SPECK * main.mass and weight(c) >= BORDER_WEIGHT * c.mass]
    box = (min(c.top for c in kept), max(c.bottom for c in kept), min(c.left for c in kept), max(c.right for c in kept))
    return box, _paint(ink.shape, kept)


def _paint(shape: tuple[int, int], kept: list[_Component]) -> np.ndarray:
    """A float mask of the kept blobs, grown by two pixels (their soft edges, faint bits of stroke)."""
    changes = np.zeros((shape[0], shape[1] + 1), np.int32)
    for c in kept:
        rows, starts, ends = c.runs
        changes[rows, starts] += 1  # runs are maximal, so no two share a start or an end
        changes[rows, ends] -= 1
    mask = (np.cumsum(changes, axis=1)[:, :-1] > 0).astype(np.float32)
    return _window(mask, 5, np.maximum)


def _is_mnist_style(grey: np.ndarray, box: tuple[int, int, int, int]) -> bool:
    """A 28x28 light-on-dark digit already sized and centred as MNIST's are: used as it is."""
    top, bottom, left, right = box
    if max(bottom - top, right - left) > BOX + 2 or max(bottom - top, right - left) < BOX - 3:
        return False
    total = float(grey.sum())
    rows = float((grey.sum(axis=1) * np.arange(SIZE)).sum()) / total
    cols = float((grey.sum(axis=0) * np.arange(SIZE)).sum()) / total
    return abs(rows - CENTRE) <= 1.5 and abs(cols - CENTRE) <= 1.5 and float(np.median(grey[0])) < MIN_CONTRAST


def _ink_crop(grey: np.ndarray, paper_small: np.ndarray, weight_small: np.ndarray, box: tuple[int, int, int, int],
              level: float, noise: float) -> np.ndarray:
    """The digit's ink in [0, 1] at full resolution, cropped to its box (paper, specks and other marks removed).

    `weight_small` is the light's gain where the digit's blobs are, and zero elsewhere.
    """
    top, bottom, left, right = box
    height, width = grey.shape
    down, across = height / paper_small.shape[0], width / paper_small.shape[1]  # full pixels per analysis pixel
    margin = 1  # an analysis pixel around the box, for the anti-aliased edges
    y0, y1 = max(0, int((top - margin) * down)), min(height, int(np.ceil((bottom + margin) * down)))
    x0, x1 = max(0, int((left - margin) * across)), min(width, int(np.ceil((right + margin) * across)))
    # The paper and the weights under the crop only, enlarged from the analysis image.
    region = (x0 / across, y0 / down, x1 / across, y1 / down)
    size = (x1 - x0, y1 - y0)
    paper = Image.fromarray(paper_small, "F").resize(size, Image.Resampling.BILINEAR, box=region)
    weight = Image.fromarray(weight_small, "F").resize(size, Image.Resampling.BILINEAR, box=region)
    ink = (grey[y0:y1, x0:x1] - np.asarray(paper, dtype=np.float32)) * np.asarray(weight, dtype=np.float32)
    # Full-resolution noise is about `down` times the analysis image's (area averaging divided it by that).
    floor = max(0.25 * level, 3.0 * noise * max(down, across))
    peak = max(level, floor + 1.0)
    ink = np.clip((ink - floor) / (peak - floor), 0.0, 1.0)
    rows, cols = np.nonzero(ink > 0.5)
    if len(rows) == 0:
        raise no_digit()
    return ink[rows.min():rows.max() + 1, cols.min():cols.max() + 1]


@dataclass
class _Component:
    mass: float
    top: int
    bottom: int  # exclusive
    left: int
    right: int  # exclusive
    runs: tuple[np.ndarray, np.ndarray, np.ndarray]  # row, start, end (exclusive) of each run of ink


def _components(mask: np.ndarray, ink: np.ndarray) -> list[_Component]:
    """8-connected components of `mask` (with their ink), found by joining runs of ink row by row."""
    padded = np.pad(mask, ((0, 0), (1, 1))).astype(np.int8)
    edges = np.diff(padded, axis=1)
    rows, starts = np.nonzero(edges == 1)
    _, ends = np.nonzero(edges == -1)  # row-major like the starts, so they pair up
    if len(rows) == 0:
        return []
    weights = np.where(mask, ink, 0.0)
    row_mass = np.concatenate([np.zeros((mask.shape[0], 1)), np.cumsum(weights, axis=1, dtype=np.float64)], 1)
    parent = list(range(len(rows)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first_run = np.searchsorted(rows, np.arange(mask.shape[0] + 1)).tolist()
    row_list, start_list, end_list = rows.tolist(), starts.tolist(), ends.tolist()
    for i, row in enumerate(row_list):
        for j in range(first_run[row - 1], first_run[row]) if row else ():
            # Runs [s, e) on neighbouring rows touch, diagonals included, when s_i <= e_j and s_j <= e_i.
            if start_list[j] <= end_list[i] and start_list[i] <= end_list[j]:
                a, b = find(i), find(j)
                if a != b:
                    parent[a] = b
    roots = np.array([find(i) for i in range(len(rows))])
    mass = row_mass[rows, ends] - row_mass[rows, starts]
    labels, index = np.unique(roots, return_inverse=True)
    count = len(labels)
    totals = np.bincount(index, weights=mass, minlength=count)
    tops = np.full(count, mask.shape[0])
    bottoms = np.zeros(count, np.int64)
    lefts = np.full(count, mask.shape[1])
    rights = np.zeros(count, np.int64)
    np.minimum.at(tops, index, rows)
    np.maximum.at(bottoms, index, rows + 1)
    np.minimum.at(lefts, index, starts)
    np.maximum.at(rights, index, ends)
    order = np.argsort(index, kind="stable")
    bounds = np.searchsorted(index[order], np.arange(count + 1))
    runs = [order[bounds[k]:bounds[k + 1]] for k in range(count)]
    return [_Component(float(totals[k]), int(tops[k]), int(bottoms[k]), int(lefts[k]), int(rights[k]),
                       (rows[runs[k]], starts[runs[k]], ends[runs[k]])) for k in range(count)]


def _resize(digit: np.ndarray, size: int) -> np.ndarray:
    """Scale so the longer side is `size`, keeping the aspect ratio."""
    height, width = digit.shape
    scale = size / max(height, width)
    new = (max(1, round(width * scale)), max(1, round(height * scale)))
    # Reducing averages (MNIST's anti-aliasing); enlarging interpolates smoothly.
    method = Image.Resampling.BOX if scale < 1 else Image.Resampling.BICUBIC
    resized = Image.fromarray(digit.astype(np.float32), "F").resize(new, method)
    return np.clip(np.asarray(resized, dtype=np.float32), 0.0, 1.0)


def _adjust_strokes(digit: np.ndarray) -> np.ndarray:
    """Strokes (at STROKE_SIZE) no thinner than MNIST's usual range, and made crisp as MNIST's binary originals."""
    target = MNIST_STROKE * STROKE_SIZE / BOX
    width = _stroke_width(digit > 0.5)
    if width < THIN * target:
        digit = _widen(digit, THIN * target - width)
    return np.clip((digit - 0.3) / 0.4, 0.0, 1.0)  # soft edges steepened around half ink


def _widen(digit: np.ndarray, change: float) -> np.ndarray:
    """Strokes `change` pixels wider, a fraction of a pixel by blending two maximum filters' sizes."""
    size = 1 + change  # a maximum filter of size k widens a stroke by k - 1
    low = int(size) if int(size) % 2 else int(size) - 1
    fraction = (size - low) / 2
    image = Image.fromarray(np.round(digit * 255).astype(np.uint8), "L")
    near = np.asarray(image.filter(ImageFilter.MaxFilter(low)) if low > 1 else image, dtype=np.float32)
    far = np.asarray(image.filter(ImageFilter.MaxFilter(low + 2)), dtype=np.float32)
    return ((1 - fraction) * near + fraction * far) / 255.0


def _stroke_width(mask: np.ndarray) -> float:
    """Mean stroke width of a binary image: twice the area over the perimeter."""
    area = int(mask.sum())
    if area == 0:
        return 0.0
    padded = np.pad(mask, 1).astype(np.int8)
    perimeter = int(np.abs(np.diff(padded, axis=0)).sum() + np.abs(np.diff(padded, axis=1)).sum())
    return 2.0 * area / perimeter


def _centre(digit: np.ndarray) -> np.ndarray:
    """The digit (at STROKE_SIZE) reduced by area into 28x28, its centre of mass at MNIST's, to a fraction of a pixel.

    One area reduction of a window placed at fractional coordinates both gives MNIST's
    anti-aliasing and avoids rounding the shift to whole pixels (which a little noise would flip).
    """
    factor = STROKE_SIZE / BOX
    height, width = digit.shape
    total = float(digit.sum())
    if total <= 0:
        raise no_digit()
    com_row = float((digit.sum(axis=1) * np.arange(height)).sum()) / total + 0.5
    com_col = float((digit.sum(axis=0) * np.arange(width)).sum()) / total + 0.5
    span = SIZE * factor
    margin = int(span)
    padded = np.pad(digit, margin)
    # Where the window starts (in the digit's coordinates), kept so that the digit stays inside it.
    top = min(max(com_row - factor * (CENTRE + 0.5), height - span), 0.0) + margin
    left = min(max(com_col - factor * (CENTRE + 0.5), width - span), 0.0) + margin
    window = (left, top, left + span, top + span)
    out = Image.fromarray(padded.astype(np.float32), "F").resize((SIZE, SIZE), Image.Resampling.BOX, box=window)
    return np.clip(np.asarray(out, dtype=np.float32), 0.0, 1.0)
