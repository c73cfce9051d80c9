"""Shape operations on ink and masks: minimum/maximum filters, growing a mask, mean stroke width."""

from __future__ import annotations

import numpy as np


def window(values: np.ndarray, size: int, reduce: np.ufunc) -> np.ndarray:
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
        values = np.moveaxis(reduce(table[:length], table[size - span : size - span + length]), 0, axis)
    return values


def grow(values: np.ndarray, by: int) -> np.ndarray:
    """A square maximum filter of 2 * by + 1 (edges repeated): `by` 3x3 maximum filters, each four whole-array steps."""
    for _ in range(by):
        rows = values.copy()
        np.maximum(rows[1:], values[:-1], out=rows[1:])
        np.maximum(rows[:-1], values[1:], out=rows[:-1])
        values = rows.copy()
        np.maximum(values[:, 1:], rows[:, :-1], out=values[:, 1:])
        np.maximum(values[:, :-1], rows[:, 1:], out=values[:, :-1])
    return values


def stroke_width(mask: np.ndarray) -> float:
    """Mean stroke width of a binary image: twice the area over the perimeter."""
    area = np.count_nonzero(mask)
    if area == 0:
        return 0.0
    # Edges between ink and paper inside the image, and ink on its border (paper lies beyond it).
    perimeter = (
        np.count_nonzero(mask[1:] != mask[:-1])
        + np.count_nonzero(mask[:, 1:] != mask[:, :-1])
        + np.count_nonzero(mask[0])
        + np.count_nonzero(mask[-1])
        + np.count_nonzero(mask[:, 0])
        + np.count_nonzero(mask[:, -1])
    )
    return 2.0 * int(area) / int(perimeter)
