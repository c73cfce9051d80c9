"""Written numbers: the segmenter's failure modes and hostile pictures that need no model.

Digits whose columns overlap a little stay two; a cut runs between touching digits, not round them,
and never leaves a sliver; a blank picture is no digit; a page of thousands of dots is refused at
once. The number corpus read with the suite's small model, `"read": "number"` through the handler
and every other failure mode: tests/slow/test_numbers.py.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from api.pictures import numbers
from api.pictures.cuts import cut_paths, pieces_between
from api.pictures.ink import NoDigit

# ---------------------------------------------------------------- pictures made for one test


def test_kerned_digits_whose_columns_overlap_a_little_stay_two_digits() -> None:
    """Two digits written close (their column spans overlap, their ink apart) were once merged and read as one."""
    atoms = numbers._Atoms(
        np.zeros((1, 1), np.int32),
        np.array([0, 0]),
        np.array([100, 95]),
        np.array([0, 55]),
        np.array([70, 120]),
        np.array([0, 1]),
        np.array([False, False]),
        np.zeros(2),
    )
    assert not numbers._mergeable(atoms, 100.0)[0]  # 15 columns of overlap: under half the narrower's 65
    strokes = numbers._Atoms(
        np.zeros((1, 1), np.int32),
        np.array([0, 0]),
        np.array([100, 95]),
        np.array([0, 40]),
        np.array([70, 60]),
        np.array([0, 1]),
        np.array([False, False]),
        np.zeros(2),
    )
    assert numbers._mergeable(strokes, 100.0)[0]  # a 4's upright inside its other stroke's columns


def two_rings(joined: bool = True) -> np.ndarray:
    """Ink of two rings (0s) side by side, joined at their middle by a short bar when `joined`."""
    image = Image.new("L", (260, 160), 0)
    draw = ImageDraw.Draw(image)
    draw.ellipse((20, 20, 120, 140), outline=255, width=12)
    draw.ellipse((140, 20, 240, 140), outline=255, width=12)
    if joined:
        draw.line((115, 80, 145, 80), fill=255, width=10)
    return np.asarray(image, np.float32) / 255.0


def test_a_cut_runs_between_two_touching_digits_not_round_the_outside() -> None:
    """Cut paths once slipped round a blob through the paper beside it, which left every real cut unchosen."""
    ink = two_rings() > 0.5
    paths = cut_paths(ink.astype(np.float32), ink, 120.0)
    assert paths, "no cut"
    columns = np.arange(ink.shape[1])[None, :]
    best = min(paths, key=lambda p: p[1])
    left = ink & (columns < best[0][:, None])
    assert 0.4 < left.sum() / ink.sum() < 0.6  # between the rings, through the bar
    assert best[1] <= 1.5  # the bar is one stroke


def test_a_cut_that_would_leave_a_sliver_is_dropped() -> None:
    region = np.ones((40, 40), bool)
    edge = (np.full(40, 1), 0.5)  # one column on the left: a sliver
    middle = (np.full(40, 20), 1.0)
    pieces = pieces_between(region, [edge, middle])
    assert len(pieces) == 2 and all(p.sum() == 800 for p, _ in pieces)


# ---------------------------------------------------------------- hostile pictures, refusals


def test_a_blank_picture_is_no_digit() -> None:
    with pytest.raises(NoDigit):
        numbers.segment(np.full((200, 400), 240, np.uint8), (400, 200))


def test_a_page_of_thousands_of_dots_is_refused_at_once() -> None:
    rng = np.random.default_rng(1)
    page = np.full((512, 512), 235, np.uint8)
    for y, x in rng.integers(4, 508, (3000, 2)):
        page[y - 2 : y + 2, x - 2 : x + 2] = 20  # all alike: no dot is a speck beside the others
    with pytest.raises(numbers.TooManyDigits, match="separate marks"):
        numbers.segment(page, (512, 512))
