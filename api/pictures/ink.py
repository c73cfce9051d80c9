"""The ink's level and the paper's noise in an ink image, and the 400 for a picture with no digit in it."""

from __future__ import annotations

import numpy as np

from api.errors import InvalidRequest
from api.pictures.robust import clipped, median, pixel_noise, strongest_count, two_classes

# Pixels may be two populations (paper and ink) when a two-way split explains this share of their
# variance: Gaussian noise alone, split anywhere, explains at most 2/pi (0.64) of it; a page with
# 0.5 % of its pixels as ink, 150 levels above paper of noise sigma 5, 0.82; a digit cut tight to
# its ink, with as much ink as paper and strokes of MNIST's graded ink, 0.76 (the lowest seen).
TWO_POPULATIONS = 0.7

# Images with fewer pixels than 4 x this are sampled whole for the paper's noise.
SMALL_SAMPLE = 256

# Ink must stand this many grey levels (of 255) above the paper, and this many times the paper's
# noise, to count as a digit at all.
MIN_CONTRAST = 24.0

MIN_SIGNAL_TO_NOISE = 6.0

NO_DIGIT = "no digit found"


class NoDigit(InvalidRequest):
    """The image shows nothing that could be a digit (blank, uniform, or only noise)."""


def no_digit(what: str = "the image") -> NoDigit:
    """The 400 for a blank input, in the same words for pictures and arrays."""
    return NoDigit(f"{what} is blank or nearly uniform: {NO_DIGIT}")


def strength(ink: np.ndarray, spread: float) -> float:
    """Ink standing clearly above the noise, summed."""
    return float(np.add.reduce(np.maximum(ink - 4.0 * spread, 0.0), axis=None))


def _noise(ink: np.ndarray) -> tuple[float, float]:
    """The paper's level and spread in an ink image (median and robust standard deviation of the paper's pixels).

    The paper is not always most of the picture (a digit cut tight to its ink may be mostly ink), so
    the pixels are first split in two (Otsu's threshold, which maximises the variance between the
    two sides). When the split explains most of their variance (TWO_POPULATIONS; noise alone, split
    anywhere, explains 2/pi of it) and the upper side's median stands MIN_SIGNAL_TO_NOISE of the
    lower side's spreads above it, there are two populations, paper below and ink above, and the
    paper is the lower; otherwise (a blank page, noise alone) every pixel is. The anti-aliased
    edges of the strokes, which lie between the two, are clipped off the paper's top (sigma
    clipping, CLIP spreads above its median, CLIP_ROUNDS times).
    """
    sample = ink[::2, ::2] if ink.size >= 4 * SMALL_SAMPLE else ink  # a quarter of the pixels estimate both as well
    ordered = np.sort(sample, axis=None)
    if ordered.size >= 4:
        split, explained = two_classes(ordered)
        if explained >= TWO_POPULATIONS:
            base, spread = clipped(ordered[:split])
            # Where the paper is a few pixels between wide anti-aliased edges (a tiny picture mostly
            # ink), neighbouring pixels tell its noise better than their levels do.
            spread = min(spread, pixel_noise(ink))
            # ...and the upper population stands clearly above the lower: it is ink.
            if float(median(ordered[split:])) - base >= MIN_SIGNAL_TO_NOISE * spread:
                return base, spread
    return clipped(ordered)


def ink_level(ink: np.ndarray, noise: tuple[float, float] | None = None) -> tuple[float, float]:
    """The ink's own level (of its strongest pixels) and the paper's noise; NoDigit if no ink stands out."""
    base, spread = noise if noise is not None else _noise(ink)
    count = strongest_count(ink.size)
    strongest = np.sort(ink, axis=None)[ink.size - count :]  # (np.partition is slow on many equal values)
    level = float(median(strongest)) - base
    if level < max(MIN_CONTRAST, MIN_SIGNAL_TO_NOISE * spread):
        raise no_digit()
    return level, spread
