"""Robust statistics of grey levels: medians, spreads that ignore outliers, noise, Otsu's split."""

from __future__ import annotations

import numpy as np

# A normal distribution's standard deviation is this many times its median absolute deviation: the
# factor that makes a median deviation a robust estimate of the noise's spread.
MAD_TO_SIGMA = 1.4826
# No spread is taken below half a grey level (the quantisation of 8-bit pictures).
MIN_SPREAD = 0.5
# The paper's pixels are clipped at this many spreads above their median, this many times.
CLIP, CLIP_ROUNDS = 2.0, 8


def median(values: np.ndarray, axis: int | None = None) -> np.ndarray:
    """np.median (all values, or along `axis`) by sorting: several times faster where many values are equal."""
    ordered = np.sort(values, axis=axis)  # flattened when axis is None
    along = 0 if axis is None else axis
    count = ordered.shape[along]
    return (np.take(ordered, (count - 1) // 2, axis=along) + np.take(ordered, count // 2, axis=along)) / 2


def median_and_spread(values: np.ndarray) -> tuple[float, float]:
    """Median and robust standard deviation (MAD_TO_SIGMA median absolute deviations, at least MIN_SPREAD) of values."""
    base = float(median(values))
    return base, max(MAD_TO_SIGMA * float(median(np.abs(values - base))), MIN_SPREAD)


def pixel_noise(values: np.ndarray) -> float:
    """The picture's noise (a robust standard deviation) from differences of neighbouring pixels.

    Paper and the inside of strokes are both smooth, so this does not grow with the share of the
    picture that is ink (a median over the pixels does); only stroke edges depart. Differences
    across and down are measured apart and the smaller taken: noise is the same both ways, while a
    picture that is mostly strokes running one way (a 1 cut tight to its ink is edges from side to
    side) has edges in every difference across them and few along them.
    """
    estimates = []
    if values.shape[1] > 1:
        estimates.append(float(median(np.abs(values[:, 1::2] - values[:, :-1:2]))))
    if values.shape[0] > 1:
        estimates.append(float(median(np.abs(values[1::2] - values[:-1:2]))))
    return max(MAD_TO_SIGMA * min(estimates, default=0.0) / float(np.sqrt(2.0)), MIN_SPREAD)


def clipped(ordered: np.ndarray) -> tuple[float, float]:
    """The paper's level and spread in sorted values whose top may hold ink and stroke edges.

    The spread is measured below the median only (MAD_TO_SIGMA times the median deviation of the values
    under it: the standard deviation for symmetric noise), where no ink is; values more than CLIP
    spreads above the median are clipped off, CLIP_ROUNDS times (sigma clipping), which walks the
    median down off the strokes' anti-aliased edges onto the paper.
    """
    for _ in range(CLIP_ROUNDS):
        base, spread = lower_level_and_spread(ordered)
        kept = max(1, int(np.searchsorted(ordered, base + CLIP * spread, "right")))
        if kept == ordered.size:
            return base, spread  # nothing clipped: every further round would measure the same values
        ordered = ordered[:kept]
    return lower_level_and_spread(ordered)


def lower_level_and_spread(ordered: np.ndarray) -> tuple[float, float]:
    """Median of sorted values, and their robust standard deviation measured below it (at least MIN_SPREAD)."""
    base = float(sorted_median(ordered))
    below = ordered[: (ordered.size + 1) // 2]
    # base - below runs from high to low: its median is its middle two, computed alone.
    middle = base - below[[(below.size - 1) // 2, below.size // 2]]
    return base, max(MAD_TO_SIGMA * float(sorted_median(middle)), MIN_SPREAD)


def sorted_median(ordered: np.ndarray) -> np.ndarray:
    """The median of values already in order (rising or falling), as `median` computes it, without sorting."""
    count = ordered.size
    return (ordered[(count - 1) // 2] + ordered[count // 2]) / 2


def two_classes(ordered: np.ndarray) -> tuple[int, float]:
    """Otsu's split of sorted values: how many fall in the lower class, and the share of their variance it explains."""
    values = ordered.astype(np.float64)
    total = np.cumsum(values)
    count = np.arange(1, values.size, dtype=np.float64)  # the lower class's size at each split
    lower_mean = total[:-1] / count
    upper_mean = (total[-1] - total[:-1]) / (values.size - count)
    between = count * (values.size - count) * (upper_mean - lower_mean) ** 2 / values.size**2
    best = int(np.argmax(between))
    variance = float(values.var())
    return best + 1, float(between[best]) / variance if variance > 0 else 0.0


def strongest_count(size: int) -> int:
    """How many of a picture's pixels are its strongest, whose median is the ink's level."""
    return min(size, max(16, size // 500))  # a tiny picture (1x1, 2x2) has fewer pixels than 16
