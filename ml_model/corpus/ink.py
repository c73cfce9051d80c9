"""Ink arrays of a written line: pen strokes rasterised, laid over each other, trimmed and measured.

Ink is float32 in [0, 1] of the pen's full strength; an `Element` is one piece of it placed on the line.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

INK = 0.3  # of the pen's full strength: where ink is, for boxes and for spacing
FAINT = 0.02  # below this an element's array is trimmed away
BIG = 1 << 20
SUPERSAMPLE = 3  # marks and styles are drawn this much larger and area-reduced (anti-aliased)


@dataclass
class Element:
    """A piece of ink on the line: its array, where its top-left lands, whether a digit (and which)."""

    ink: np.ndarray
    x: int
    y: int
    digit: int | None = None


def choice(rng: np.random.Generator, table: dict[str, float]) -> str:
    """One key of `table`, drawn with the probabilities (weights) it maps to."""
    keys = list(table)
    weights = np.array([table[k] for k in keys], np.float64)
    return keys[int(rng.choice(len(keys), p=weights / weights.sum()))]


def stroke_width(ink: np.ndarray) -> float:
    """The mean width of ink runs across rows and down columns, the smaller: about the pen's width."""
    mask = ink > 0.5
    count = int(mask.sum())
    if count == 0:
        return 1.0
    across = int(mask[:, 0].sum() + (mask[:, 1:] & ~mask[:, :-1]).sum())
    down = int(mask[0].sum() + (mask[1:] & ~mask[:-1]).sum())
    return count / max(across, down, 1)


def raster(
    strokes: list[np.ndarray], width: float, dots: tuple[tuple[float, float, float], ...] = ()
) -> tuple[np.ndarray, int, int]:
    """Pen strokes (polylines of (x, y) points) and dots (x, y, radius), anti-aliased: (ink, left, top)."""
    points = [s for s in strokes] + [np.array([[x - r, y - r], [x + r, y + r]]) for x, y, r in dots]
    every = np.concatenate(points)
    pad = width / 2 + 2
    left, top = int(np.floor(every[:, 0].min() - pad)), int(np.floor(every[:, 1].min() - pad))
    right, bottom = int(np.ceil(every[:, 0].max() + pad)), int(np.ceil(every[:, 1].max() + pad))
    image = Image.new("L", ((right - left) * SUPERSAMPLE, (bottom - top) * SUPERSAMPLE), 0)
    paint = ImageDraw.Draw(image)
    radius = max(width, 0.8) * SUPERSAMPLE / 2
    origin = np.array([left, top], np.float64)
    for stroke in strokes:
        xy = (stroke - origin) * SUPERSAMPLE
        if len(xy) > 1:
            paint.line(xy.ravel().tolist(), fill=255, width=max(1, round(2 * radius)), joint="curve")
        for x, y in (xy[0], xy[-1]):  # round ends
            paint.ellipse((x - radius, y - radius, x + radius, y + radius), fill=255)
    for x, y, r in dots:
        cx, cy, rr = (x - left) * SUPERSAMPLE, (y - top) * SUPERSAMPLE, r * SUPERSAMPLE
        paint.ellipse((cx - rr, cy - rr, cx + rr, cy + rr), fill=255)
    ink = np.asarray(image.reduce(SUPERSAMPLE), np.float32) / 255.0
    return ink, left, top


def merge(base: np.ndarray, ink: np.ndarray, left: int, top: int) -> tuple[np.ndarray, int, int]:
    """`ink` laid over `base` with its corner at (left, top) of base: the union array and base's new corner."""
    x0, y0 = min(0, left), min(0, top)
    x1, y1 = max(base.shape[1], left + ink.shape[1]), max(base.shape[0], top + ink.shape[0])
    out = np.zeros((y1 - y0, x1 - x0), np.float32)
    out[-y0 : -y0 + base.shape[0], -x0 : -x0 + base.shape[1]] = base
    region = out[top - y0 : top - y0 + ink.shape[0], left - x0 : left - x0 + ink.shape[1]]
    np.maximum(region, ink, out=region)
    return out, -x0, -y0


def trim(ink: np.ndarray) -> tuple[np.ndarray, int, int]:
    """`ink` cut to where it is over FAINT: (array, its left, its top in the old array)."""
    mask = ink > FAINT
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return ink[:1, :1] * 0, 0, 0
    return ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1], int(cols[0]), int(rows[0])


def profiles(ink: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row the first and last column of ink (BIG / -BIG where a row has none); faint ink if none is strong."""
    mask = ink > INK
    if not mask.any():
        mask = ink > FAINT
    has = mask.any(axis=1)
    width = ink.shape[1]
    first = np.where(has, mask.argmax(axis=1), BIG)
    last = np.where(has, width - 1 - mask[:, ::-1].argmax(axis=1), -BIG)
    return first, last


def ink_box(ink: np.ndarray) -> tuple[int, int, int, int]:
    """(x, y, w, h) of ink over INK in the array (of FAINT if none is that strong)."""
    mask = ink > INK
    if not mask.any():
        mask = ink > FAINT
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1] - cols[0] + 1), int(rows[-1] - rows[0] + 1)
