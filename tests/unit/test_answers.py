"""What `POST /predict` answers besides the digit, in-process without a model: `"debug"` must be a
boolean, blank inputs are 400 "no digit found", and the `"confident"` flag's threshold.

With the trained model (debug inputs, a confident digit, and once through `serverless offline`):
tests/slow/test_answers.py.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
from PIL import Image

from api.app.inputs import CONFIDENT, FORM_IMAGE, FORM_INSTANCES, Inputs, response_body
from tests.support.handler_support import BLANK, data_url, post

# ---------------------------------------------------------------- debug


@pytest.mark.parametrize("value", ["yes", 1, None, [True]])
def test_debug_must_be_a_boolean(value: Any) -> None:
    status, body = post({"image": BLANK, "debug": value})
    assert status == 400 and body["error"]["code"] == "invalid_request"
    assert '"debug" must be true or false' in body["error"]["message"]


# ---------------------------------------------------------------- blank inputs and confidence

HALF = [[0] * 14 + [255] * 14] * 28  # not blank: a half-white array is read (as something)


def white_png() -> str:
    buffer = io.BytesIO()
    Image.new("L", (64, 64), 255).save(buffer, "PNG")
    return data_url(buffer.getvalue())


@pytest.mark.parametrize(
    "body, where",
    [
        ({"image": BLANK}, "the image array"),
        ({"image": [255] * 784}, "the image array"),
        ({"images": [HALF, BLANK]}, "images[1]: the image array"),
        ({"image": white_png()}, "the image"),
    ],
    ids=["zeros", "all white", "blank in a batch", "white PNG"],
)
def test_blank_inputs_are_400_no_digit_found(body: dict[str, Any], where: str) -> None:
    """A blank array is refused like a blank picture, with the same words."""
    status, answer = post(body)
    assert status == 400 and answer["error"]["code"] == "invalid_request"
    assert answer["error"]["message"] == f"{where} is blank or nearly uniform: no digit found"


def test_confident_flags_answers_below_the_threshold() -> None:
    sure = np.eye(10, dtype=np.float32)[[3]]
    unsure = np.full((1, 10), 0.4 / 9, np.float32)
    unsure[0, 5] = 0.6 - 1e-3
    at = np.full((1, 10), 0.4 / 9, np.float32)
    at[0, 2] = CONFIDENT
    rows = np.concatenate([sure, unsure, at])
    batch = Inputs(np.zeros((3, 28, 28, 1), np.float32), "images")
    body = response_body(batch, rows, {"version": "v"})
    assert [p["confident"] for p in body["predictions"]] == [True, False, True]
    single = response_body(Inputs(np.zeros((1, 28, 28, 1), np.float32), FORM_IMAGE), unsure, {})
    assert single["confident"] is False and single["prediction"] == 5
    serving = response_body(Inputs(np.zeros((3, 28, 28, 1), np.float32), FORM_INSTANCES), rows, {})
    assert serving["confident"] == [True, False, True] and len(serving["predictions"]) == 3
