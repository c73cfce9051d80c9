"""A line's per-step distributions from the number reader → the digits read, each with its box in the picture.

Greedy best-path decoding of CTC: the most likely class at each column step, repeats merged and
blanks dropped. A digit's probabilities are its own steps' at their surest (over the ten digits,
without the blank), and its box is the ink of the columns between its neighbours' emissions, in the
picture's own pixels (`api.pictures.line.Line.box`). Separators and other marks are read as blanks,
so they never appear among the digits.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from api.pictures.ink import no_digit
from api.pictures.line import MAX_DIGITS, Line, too_many
from api.runtime.manifest import BLANK, NUM_CLASSES

# The reader's forward pass: a line [height, width] → per-step probabilities [steps, 11].
Run = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Emission:
    """One digit of the best path: its class, its steps [first, last] and its surest step."""

    digit: int
    first: int
    last: int
    peak: int


@dataclass(frozen=True)
class ReadDigit:
    """One digit of a number read by the reader."""

    probabilities: np.ndarray  # float32 [10], at its surest step
    box: tuple[int, int, int, int]  # x, y, width, height in the picture's own pixels


def best_path(probabilities: np.ndarray) -> list[Emission]:
    """Greedy CTC decoding: the argmax per step, runs of one class merged, blanks dropped."""
    best = probabilities.argmax(axis=1)
    emissions = []
    start = 0
    for step in range(1, len(best) + 1):
        if step == len(best) or best[step] != best[start]:
            if best[start] != BLANK:
                run = probabilities[start:step, best[start]]
                emissions.append(Emission(int(best[start]), start, step - 1, start + int(run.argmax())))
            start = step
    return emissions


def read_line(line: Line, run: Run, stride: int) -> list[ReadDigit]:
    """The digits of `line` left to right, read in one forward pass of a reader whose steps are `stride`
    columns; NoDigit when it holds none."""
    probabilities = run(line.image)
    emissions = best_path(probabilities)
    if not emissions:
        raise no_digit()
    if len(emissions) > MAX_DIGITS:
        raise too_many(f"{len(emissions)} digits")
    digits = []
    for k, emission in enumerate(emissions):
        # Columns from midway after the previous digit's last step to midway before the next one's first.
        before = emissions[k - 1].last if k else None
        after = emissions[k + 1].first if k + 1 < len(emissions) else None
        start = 0.0 if before is None else (before + emission.first + 1) / 2 * stride
        end = float(line.image.shape[1]) if after is None else (emission.last + after + 1) / 2 * stride
        row = probabilities[emission.peak, :NUM_CLASSES].astype(np.float64)
        digits.append(ReadDigit((row / max(row.sum(), 1e-12)).astype(np.float32), line.box(start, end)))
    return digits
