"""What `POST /predict` answers besides the digit, with the trained model: `"debug"` shows the input
the model saw (one picture, a batch, TensorFlow Serving instances), and a clear digit is confident.

Through the real handler in-process (the small MNIST export), and once through `serverless offline`
over HTTP, the door users call. The checks that need no model: tests/unit/test_answers.py.
"""

from __future__ import annotations

import base64
import io
import json
from typing import Any

import numpy as np
import pytest
from PIL import Image

from api.pictures.images import PixelBudget, from_bytes
from api.runtime.settings import MAX_IMAGE_PIXELS, MAX_REQUEST_PIXELS
from ml_model.corpus.digits import canvas_white, scan
from tests.support.handler_support import BLANK, data_url, post


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


def test_debug_shows_the_input_the_model_saw(store, real_mnist) -> None:
    picture = canvas_white(real_mnist.test_images[0], np.random.default_rng(1))
    seen = from_bytes(picture, PixelBudget(MAX_IMAGE_PIXELS, MAX_REQUEST_PIXELS))
    status, body = post({"image": data_url(picture), "debug": True})
    assert status == 200 and body["prediction"] == 7
    check_debug(body["debug"], seen)
    status, plain = post({"image": data_url(picture)})
    assert "debug" not in plain and plain["probabilities"] == body["probabilities"]


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


# ---------------------------------------------------------------- confidence


def test_a_clear_digit_is_confident(store, real_mnist) -> None:
    status, body = post({"image": real_mnist.test_images[0].tolist()})
    assert status == 200 and body["prediction"] == 7 and body["confident"] is True


# ---------------------------------------------------------------- through serverless offline


@pytest.mark.network
@pytest.mark.serverless
def test_debug_and_blank_arrays_through_serverless_offline(offline_api, real_mnist) -> None:
    picture = scan(real_mnist.test_images[0], np.random.default_rng(3))
    status, _, body = offline_api.request(
        "POST", "/predict", json.dumps({"image": data_url(picture), "debug": True}).encode()
    )
    assert status == 200 and body["prediction"] == 7 and body["confident"] is True
    check_debug(body["debug"], from_bytes(picture, PixelBudget(MAX_IMAGE_PIXELS, MAX_REQUEST_PIXELS)))
    status, _, body = offline_api.request("POST", "/predict", json.dumps({"image": BLANK}).encode())
    assert status == 400 and "no digit found" in body["error"]["message"]
