"""A picture that plainly holds several digits side by side is not answered as a confident single digit.

Its single-digit answer (without `"read"`) keeps the model's reading of the main digit, says the
picture holds several digits and how to read them as a number, and is never `confident`; a single
digit's answer is exactly as it was (the corpus check is tests/slow/test_read_images.py's).
"""

from __future__ import annotations

import numpy as np
import pytest

from api.app.http import Request
from api.app.inputs import SEVERAL, Inputs, read_inputs, response_body
from api.pictures.images import PixelBudget, digit_from_bytes, from_bytes
from api.runtime.settings import MAX_IMAGE_PIXELS, MAX_REQUEST_PIXELS
from tests.support.pictures_support import png


def budget() -> PixelBudget:
    return PixelBudget(MAX_IMAGE_PIXELS, MAX_REQUEST_PIXELS)


def page(*marks: tuple[int, int, int, int]) -> bytes:
    """Dark marks (top, left, height, width) on a white 120x240 page, as a PNG."""
    grey = np.full((120, 240), 255, np.uint8)
    for top, left, height, width in marks:
        grey[top : top + height, left : left + width] = 10
    return png(grey)


ONE = (20, 60, 80, 14)  # a 1: a tall bar
OTHER = (20, 150, 80, 14)  # another, well apart


@pytest.mark.parametrize(
    ("marks", "several"),
    [
        ((ONE,), False),
        ((ONE, OTHER), True),
        ((ONE, (95, 40, 6, 60)), False),  # a base across it (a 1 with a foot): below, overlapping in columns
        ((ONE, (40, 150, 20, 14)), False),  # a short mark beside it: a speck or a separator, not a digit
        ((ONE, (20, 66, 80, 14)), False),  # strokes sharing columns: one digit (a 4 in two strokes)
    ],
)
def test_several_digits_side_by_side_are_told_from_one(marks, several: bool) -> None:
    array, found = digit_from_bytes(page(*marks), budget())
    assert found is several
    np.testing.assert_array_equal(array, from_bytes(page(*marks), budget()))  # the input itself is unchanged


def test_the_single_digit_answer_says_so_and_is_not_confident() -> None:
    import base64
    import json

    body = json.dumps({"image": base64.b64encode(page(ONE, OTHER)).decode()}).encode()
    inputs = read_inputs(Request("POST", "/predict", {"content-type": "application/json"}, body))
    sure = np.zeros((1, 10), np.float32)
    sure[0, 1] = 0.99
    answer = response_body(inputs, sure, {})
    assert answer["prediction"] == 1 and answer["confidence"] == pytest.approx(0.99)
    assert answer["confident"] is False and '"read": "number"' in answer[SEVERAL]
    alone = response_body(Inputs(inputs.batch, "image"), sure, {})
    assert SEVERAL not in alone and alone["confident"] is True
