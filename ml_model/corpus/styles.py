"""A real digit restyled for its line: redrawn along its pen paths, writers' styles drawn onto it, its slant, its pen.

Styles MNIST's American writers rarely use: a 1 with a long upstroke from its top down to the left, a 7
crossed at mid height, a 7 with a serif down from its bar's left end.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PIL import Image, ImageFilter

from ml_model.corpus.ink import merge, raster, stroke_width
from ml_model.corpus.pen_trace import FRAME


def ink_at(ink: np.ndarray, row: int) -> np.ndarray:
    """The columns of strong ink (over half) in `row` of `ink`, the row clipped into the array."""
    return np.flatnonzero(ink[min(max(row, 0), ink.shape[0] - 1)] > 0.5)


def one_flag(image: Image.Image, rng: np.random.Generator) -> list[np.ndarray]:
    """A long upstroke from the 1's top down to the left: 30-42 % of its height, 30-50 degrees off its stem."""
    ink = np.asarray(image, np.float32) / 255.0
    h = ink.shape[0]
    band = max(2, h // 8)
    top_cols = np.flatnonzero(ink[:band].max(axis=0) > 0.5)
    low_cols = np.flatnonzero(ink[-band:].max(axis=0) > 0.5)
    if top_cols.size == 0 or low_cols.size == 0:
        return []
    x, y = float(top_cols.mean()), 0.5 * stroke_width(ink)
    lean = np.arctan2(x - float(low_cols.mean()), h - band)  # the stem's angle off vertical, top to the right
    # Off vertical, down to the left; never flatter than 22 degrees under the horizontal (a 7's bar).
    angle = float(np.clip(lean + np.radians(rng.uniform(30, 50)), np.radians(35), np.radians(68)))
    length = float(rng.uniform(0.3, 0.42)) * h
    end = (x - length * np.sin(angle), y + length * np.cos(angle))
    bend = (0.5 * (x + end[0]) + float(rng.normal(0, 0.02)) * h, 0.5 * (y + end[1]) - 0.03 * h)
    return [np.array([end, bend, (x, y)], np.float64)]


def seven_bar(image: Image.Image, rng: np.random.Generator) -> list[np.ndarray]:
    """A short bar across the 7's stem at mid height, a little past it on both sides.

    The bar goes where the stem is a single stroke (not where a squat 7's top still is); none if nowhere.
    """
    ink = np.asarray(image, np.float32) / 255.0
    h, w = ink.shape
    width = stroke_width(ink)
    rows = np.arange(int(0.42 * h), int(np.ceil(0.64 * h)) + 1)
    for row in rows[rng.permutation(rows.size)]:
        cols = ink_at(ink, int(row))
        if cols.size and cols[-1] - cols[0] + 1 == cols.size and cols.size <= 2.5 * width + 1:
            x = float(cols.mean())
            half = float(rng.uniform(0.2, 0.32)) * max(w, 0.6 * h)
            tilt = float(rng.normal(-0.04, 0.04)) * half
            return [np.array([(x - half, row + tilt), (x + half, row - tilt)], np.float64)]
    return []


def seven_serif(image: Image.Image, rng: np.random.Generator) -> list[np.ndarray]:
    """A short stroke down from the left end of the 7's top bar."""
    ink = np.asarray(image, np.float32) / 255.0
    h = ink.shape[0]
    band = ink[: max(2, int(0.3 * h))] > 0.5
    cols = np.flatnonzero(band.any(axis=0))
    if cols.size == 0:
        return []
    x = int(cols[0])
    y = float(np.flatnonzero(band[:, x])[0])
    drop = float(rng.uniform(0.15, 0.28)) * h
    return [np.array([(x, y), (x - 0.05 * drop, y + drop)], np.float64)]


# Each style: its name (a line's feature), the digit it belongs to, how it is drawn; in drawing order.
STYLES: tuple[tuple[str, int, Callable[[Image.Image, np.random.Generator], list[np.ndarray]]], ...] = (
    ("one_flag", 1, one_flag),
    ("seven_serif", 7, seven_serif),
    ("seven_bar", 7, seven_bar),
)


def add_styles(
    image: Image.Image, label: int, wanted: set[str], rng: np.random.Generator, features: set[str]
) -> Image.Image:
    """The digit with the line's `wanted` styles that belong to it drawn on, with the digit's own pen."""
    strokes: list[np.ndarray] = []
    for style, digit, draw in STYLES:
        drawn = draw(image, rng) if label == digit and style in wanted else []
        if drawn:
            strokes += drawn
            features.add(style)
    if strokes:
        base = np.asarray(image, np.float32) / 255.0
        ink, left, top = raster(strokes, max(1.0, stroke_width(base) * 0.9))
        merged, _, _ = merge(base, ink * float(rng.uniform(0.85, 1.0)), left, top)
        image = Image.fromarray((merged * 255).astype(np.uint8))
    return image


def slanted(image: Image.Image, shear: float) -> Image.Image:
    """The digit sheared sideways, its top `shear` x its height to the right, widened to hold it."""
    w, h = image.size
    shift = shear * (h - 1)
    offset = max(0.0, -shift)
    out_w = w + int(np.ceil(abs(shift))) + 1
    return image.transform(
        (out_w, h), Image.Transform.AFFINE, (1, shear, -shift - offset, 0, 1, 0), resample=Image.Resampling.BILINEAR
    )


def boost(value: int) -> int:
    """A thicker look for small digits: the anti-aliased edge raised toward full ink."""
    return min(255, int(value * 1.8))


def pen_ink(image: Image.Image, pen: str, height: float, cut: float) -> np.ndarray:
    """The digit's ink in [0, 1] with the line's pen: "thick", "thin" (a level `cut` under 30 px) or as it came."""
    if pen == "thick":
        image = image.filter(ImageFilter.MaxFilter(3)) if height >= 14 else image.point(boost)
    ink = np.asarray(image, np.float32) / 255.0
    if pen == "thin":
        if height >= 30:
            thinned = np.asarray(image.filter(ImageFilter.MinFilter(3)), np.float32) / 255.0
        else:
            thinned = np.clip((ink - cut) / (1 - cut), 0, 1)
        if thinned.sum() > 0.35 * ink.sum():  # a thin pen, not a vanished digit
            ink = thinned
    peak = float(ink.max())
    if peak < 0.6:  # a thin stroke scaled down: a fainter line, yet plainly ink
        ink = ink * (0.6 / max(peak, 1e-3))
    return ink


def along_paths(
    strokes: list[list[tuple[float, float]]], box: np.ndarray, size: tuple[int, int], pen: float
) -> Image.Image:
    """A digit redrawn along its pen paths (`pen_trace.trace`: points in [0, 1] of the 28x28 frame) with a
    round pen `pen` px wide, its ink box `box` (y0, y1, x0, x1 in the frame's pixels) scaled to `size`
    (w, h).

    What a canvas, a ballpoint or a marker leaves: a stroke of one width all along, whatever the digit's
    own ink was."""
    y0, y1, x0, x1 = (float(v) for v in box)
    scale = np.array([size[0] / max(x1 - x0, 1.0), size[1] / max(y1 - y0, 1.0)])
    origin = np.array([x0, y0])
    paths = [(np.asarray(stroke, np.float64) * FRAME - origin) * scale for stroke in strokes if stroke]
    ink, _, _ = raster(paths, pen)
    return Image.fromarray((ink * 255).astype(np.uint8))
