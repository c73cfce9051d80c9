"""What `POST /predict` answers besides the digit: `"debug"` inputs, the `"confident"` flag, blank inputs.

Through the real handler in-process (the small MNIST export), and once through `serverless offline`
over HTTP, the door users call.
"""

from __future__ import annotations

import base64
import io
import json
from typing import Any

import numpy as np
import pytest
from PIL import Image

from api import handler
from api.pictures.images import PixelBudget, from_bytes
from api.app.inputs import CONFIDENT, INSTANCES, SINGLE, Inputs, response_body
from api.runtime.settings import MAX_IMAGE_PIXELS, MAX_REQUEST_PIXELS
from api_support import http_event
from bench.corpus import canvas_white, scan

BLANK = [[0] * 28] * 28


def post(body: Any) -> tuple[int, Any]:
    response = handler.get_number_prediction(http_event(body=body), None)
    return response["statusCode"], json.loads(response["body"])


def data_url(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def png_pixels(url: str) -> np.ndarray:
    assert url.startswith("data:image/png;base64,")
    image = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    assert image.format == "PNG" and image.size == (28, 28)
    return np.asarray(image.convert("L"), dtype=np.float32) / 255.0


def check_debug(debug: dict[str, Any], seen: np.ndarray) -> None:
    """The debug entry shows the input the model saw, as numbers and as a PNG of the same pixels."""
    numbers = np.array(debug["input"], dtype=np.float32)
    assert numbers.shape == (28, 28)
    np.testing.assert_allclose(numbers, seen, atol=1e-3)
    np.testing.assert_allclose(png_pixels(debug["png"]), seen, atol=1 / 255 + 1e-6)


# ---------------------------------------------------------------- debug

@pytest.mark.slow
def test_debug_shows_the_input_the_model_saw(store, real_mnist) -> None:
    picture = canvas_white(real_mnist.test_images[0], np.random.default_rng(1))
    seen = from_bytes(picture, PixelBudget(MAX_IMAGE_PIXELS, MAX_REQUEST_PIXELS))
    status, body = post({"image": data_url(picture), "debug": True})
    assert status == 200 and body["prediction"] == 7
    check_debug(body["debug"], seen)
    status, plain = post({"image": data_url(picture)})
    assert "debug" not in plain and plain["probabilities"] == body["probabilities"]


@pytest.mark.slow
def test_debug_in_a_batch_and_in_instances(store, real_mnist) -> None:
    rng = np.random.default_rng(2)
    pictures = [scan(digit, rng) for digit in real_mnist.test_images[1:4]]
    array = real_mnist.test_images[4]
    seen = [from_bytes(p, PixelBudget(MAX_IMAGE_PIXELS, MAX_REQUEST_PIXELS)) for p in pictures] + [array / 255.0]
    status, body = post({"images": [data_url(p) for p in pictures] + [array.tolist()], "debug": True})
    assert status == 200
    for prediction, image in zip(body["predictions"], seen, strict=True):
        check_debug(prediction["debug"], image)
    arrays = real_mnist.test_images[4:7]  # arrays only: the batch is read in one step, debug all the same
    status, body = post({"images": [a.tolist() for a in arrays], "debug": True})
    assert status == 200
    for prediction, image in zip(body["predictions"], arrays / 255.0, strict=True):
        check_debug(prediction["debug"], image)
    status, body = post({"instances": [{"b64": base64.b64encode(p).decode()} for p in pictures], "debug": True})
    assert status == 200 and np.array(body["predictions"]).shape == (3, 10)
    for debug, image in zip(body["debug"], seen[:3], strict=True):
        check_debug(debug, image)


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


@pytest.mark.parametrize("body, where", [
    ({"image": BLANK}, "the image array"),
    ({"image": [255] * 784}, "the image array"),
    ({"images": [HALF, BLANK]}, "images[1]: the image array"),
    ({"image": white_png()}, "the image"),
], ids=["zeros", "all white", "blank in a batch", "white PNG"])
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
    single = response_body(Inputs(np.zeros((1, 28, 28, 1), np.float32), SINGLE), unsure, {})
    assert single["confident"] is False and single["prediction"] == 5
    serving = response_body(Inputs(np.zeros((3, 28, 28, 1), np.float32), INSTANCES), rows, {})
    assert serving["confident"] == [True, False, True] and len(serving["predictions"]) == 3


@pytest.mark.slow
def test_a_clear_digit_is_confident(store, real_mnist) -> None:
    status, body = post({"image": real_mnist.test_images[0].tolist()})
    assert status == 200 and body["prediction"] == 7 and body["confident"] is True


# ---------------------------------------------------------------- through serverless offline

@pytest.mark.slow
@pytest.mark.network
@pytest.mark.serverless
def test_debug_and_blank_arrays_through_serverless_offline(offline_api, real_mnist) -> None:
    picture = scan(real_mnist.test_images[0], np.random.default_rng(3))
    status, _, body = offline_api.request("POST", "/predict", json.dumps({"image": data_url(picture), "debug": True}).encode())
    assert status == 200 and body["prediction"] == 7 and body["confident"] is True
    check_debug(body["debug"], from_bytes(picture, PixelBudget(MAX_IMAGE_PIXELS, MAX_REQUEST_PIXELS)))
    status, _, body = offline_api.request("POST", "/predict", json.dumps({"image": BLANK}).encode())
    assert status == 400 and "no digit found" in body["error"]["message"]
