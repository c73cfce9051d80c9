"""Written numbers through the handler: `"read": "number"` answered by the export's number reader, its
answer's shape, batches and debug lines, single-digit answers untouched without it, and every error path
of the request. The reader's own mechanics (decoding, boxes, hostile lines): tests/unit/test_reading.py
and tests/slow/test_reader.py.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageDraw

from api import handler
from api.app.inputs import read_picture
from api.pictures.images import PixelBudget, digit_from_bytes
from api.runtime.settings import MAX_IMAGE_PIXELS, MAX_REQUEST_PIXELS
from ml_model.corpus.numbers import number_indices, number_samples
from ml_model.corpus.render import encode
from tests.support.api_support import LambdaContext, http_event
from tests.support.numbers_support import b64, number_ink, png_of


def budget() -> PixelBudget:
    return PixelBudget(MAX_IMAGE_PIXELS, MAX_REQUEST_PIXELS)


def call(event: Any) -> tuple[int, Any]:
    response = handler.get_number_prediction(event, LambdaContext())
    return response["statusCode"], json.loads(response["body"])


@pytest.fixture(scope="module")
def small_model(mnist_export):
    from api.runtime.predictor import open_export

    return open_export(mnist_export, "tflite")


@pytest.fixture(scope="module")
def well_read(real_mnist, small_model) -> list[int]:
    """Indices of MNIST test digits the small model reads right as arrays, confidently."""
    probabilities = small_model.predict((real_mnist.test_images[:400] / 255.0).astype(np.float32)[..., None])
    return [
        i
        for i in range(400)
        if probabilities[i].argmax() == real_mnist.test_labels[i] and probabilities[i].max() > 0.98
    ]


# ---------------------------------------------------------------- through the handler


def number_png(real_mnist, indices: list[int], **layout: Any) -> bytes:
    ink, _ = number_ink([real_mnist.test_images[i] for i in indices], **layout)
    return png_of(ink)


def reader_reads(store, picture: bytes) -> str:
    """What the export's number reader reads in `picture` through the library: the handler must answer the same."""
    from api.pictures.line import to_line
    from api.pictures.reading import read_line

    grey, size = read_picture(picture, budget())
    reader = store.reader()
    digits = read_line(to_line(grey, size), reader.run, reader.stride)
    return "".join(str(int(d.probabilities.argmax())) for d in digits)


def test_thousands_of_specks_around_a_number_are_read_as_the_number_alone(store, real_mnist, well_read) -> None:
    chosen = well_read[:4]
    ink, _ = number_ink([real_mnist.test_images[i] for i in chosen], height=120)
    clean = reader_reads(store, png_of(ink))
    rng = np.random.default_rng(2)
    for y, x in zip(rng.integers(0, ink.shape[0], 3000), rng.integers(0, ink.shape[1], 3000)):
        ink[y, x] = 1.0  # single-pixel dust: specks, left out of the line
    status, body = call(http_event(body={"image": b64(png_of(ink)), "read": "number"}))
    assert status == 200, body
    assert body["number"] == clean


def test_one_huge_scribble_is_answered_within_the_digit_limit(store) -> None:
    rng = np.random.default_rng(3)
    image = Image.new("L", (512, 512), 0)
    ImageDraw.Draw(image).line([tuple(p) for p in rng.uniform(0, 512, (400, 2)).tolist()], fill=255, width=6)
    status, body = call(http_event(body={"image": b64(png_of(np.asarray(image) / 255.0)), "read": "number"}))
    if status == 200:
        assert 1 <= len(body["digits"]) <= 16, body
    else:  # refused is as good as read, in bounded work
        assert status == 400 and "digit" in body["error"]["message"], body


def test_a_number_through_the_handler(store, real_mnist, well_read) -> None:
    chosen = well_read[:4]
    picture = number_png(real_mnist, chosen)
    status, body = call(http_event(body={"image": b64(picture), "read": "number"}))
    assert status == 200, body
    assert body["number"] == reader_reads(store, picture)
    assert set(body) == {"number", "confidence", "confident", "digits", "model"}
    assert [d["prediction"] for d in body["digits"]] == [int(c) for c in body["number"]]
    assert body["confidence"] == pytest.approx(np.prod([d["confidence"] for d in body["digits"]]), abs=1e-5)
    assert body["confident"] == all(d["confidence"] >= 0.6 for d in body["digits"])
    xs = [d["box"][0] for d in body["digits"]]
    assert xs == sorted(xs) and all(len(d["box"]) == 4 and len(d["probabilities"]) == 10 for d in body["digits"])
    assert all(set(d) == {"prediction", "confidence", "probabilities", "box"} for d in body["digits"])


def test_a_raw_image_body_is_read_as_a_number_with_a_query_parameter(store, real_mnist, well_read) -> None:
    chosen = well_read[4:7]
    picture = number_png(real_mnist, chosen)
    event = http_event(body=picture, content_type="image/png", base64_body=True)
    event["queryStringParameters"] = {"read": "number"}
    status, body = call(event)
    assert status == 200 and body["number"] == reader_reads(store, picture), body
    del event["queryStringParameters"]
    status, body = call(event)
    assert status == 200 and "number" not in body and "prediction" in body  # a digit, as ever


def test_a_batch_of_numbers_and_their_debug_inputs(store, real_mnist, well_read) -> None:
    first, second = well_read[:2], well_read[2:5]
    pictures = [number_png(real_mnist, first), number_png(real_mnist, second)]
    status, body = call(http_event(body={"images": [b64(p) for p in pictures], "read": "number", "debug": True}))
    assert status == 200, body
    assert [p["number"] for p in body["predictions"]] == [reader_reads(store, p) for p in pictures]
    for answer in body["predictions"]:  # what the reader saw: the line, 32 rows high
        seen = np.asarray(answer["debug"]["input"])
        assert seen.shape[0] == 32 and seen.shape[1] > 32 and answer["debug"]["png"].startswith("data:image/png")


def test_without_read_every_answer_is_the_single_digit_answer(store, real_mnist) -> None:
    """Absent or "digit", `"read"` changes nothing: the same bytes as the single-digit path's answer."""
    from api.app.inputs import Inputs, response_body

    pictures = [
        s.data
        for s in number_samples(
            real_mnist.test_images, real_mnist.test_labels, "scan", "wide", number_indices(10_000, 2)["scan", "wide"]
        )
    ]
    for picture in pictures:
        plain = handler.get_number_prediction(http_event(body={"image": b64(picture)}), LambdaContext())
        digit = handler.get_number_prediction(
            http_event(body={"image": b64(picture), "read": "digit"}), LambdaContext()
        )
        assert plain["body"] == digit["body"]
        model = store.model()
        array, several = digit_from_bytes(picture, budget())
        batch = array[None, ..., None]
        expected = response_body(Inputs(batch, "image", several=(several,)), model.predictor.predict(batch), model.info)
        assert json.loads(plain["body"]) == json.loads(json.dumps(expected))
        assert several and "several" in json.loads(plain["body"])  # a number's picture: its answer says so


def _number_errors(real_mnist) -> dict[str, tuple[dict[str, Any], int, str]]:
    """name → (event, status, a fragment of the message)."""
    blank = b64(encode(Image.new("L", (200, 100), 250)))
    digits = [real_mnist.test_images[i] for i in range(40)]
    ink, _ = number_ink(digits, height=40, gap=0.6, margin=20)
    forty = b64(png_of(ink))  # a line far longer than sixteen digits: refused before the reader runs
    three = b64(png_of(number_ink(digits[:3])[0]))
    array = [[0] * 28] * 28
    raw = http_event(body=base64.b64decode(blank), content_type="image/png", base64_body=True)
    bogus = dict(raw, queryStringParameters={"read": "letters"})
    return {
        "unknown read": (http_event(body={"image": blank, "read": "letters"}), 400, '"read" must be "digit"'),
        "read not a string": (http_event(body={"image": blank, "read": 5}), 400, "not 5"),
        "read with an array": (http_event(body={"image": array, "read": "number"}), 400, "an array is one 28x28 digit"),
        "read with an array in a batch": (
            http_event(body={"images": [three, array], "read": "number"}),
            400,
            "images[1]",
        ),
        "read with instances": (http_event(body={"instances": [array], "read": "number"}), 400, '"instances"'),
        "read with a number as image": (http_event(body={"image": 7, "read": "number"}), 400, "base64"),
        "unknown read in the query": (bogus, 400, "?read= must be"),
        "blank number": (http_event(body={"image": blank, "read": "number"}), 400, "blank"),
        "blank number in a batch": (
            http_event(body={"images": [three, blank], "read": "number"}),
            400,
            "images[1]: the image is blank",
        ),
        "forty digits": (http_event(body={"image": forty, "read": "number"}), 400, "up to 16 digits"),
        "too many numbers": (http_event(body={"images": [blank] * 33, "read": "number"}), 413, "at most 32"),
        "raw blank number": (dict(raw, queryStringParameters={"read": "number"}), 400, "blank"),
    }


@pytest.mark.parametrize(
    "name",
    [
        "unknown read",
        "read not a string",
        "read with an array",
        "read with an array in a batch",
        "read with instances",
        "read with a number as image",
        "unknown read in the query",
        "blank number",
        "blank number in a batch",
        "forty digits",
        "too many numbers",
        "raw blank number",
    ],
)
def test_number_errors(mnist_export, tmp_path, real_mnist, name: str) -> None:
    from tests.support.api_support import serving, store_for

    event, status, fragment = _number_errors(real_mnist)[name]
    fresh = store_for(str(mnist_export), tmp_path)
    with serving(fresh):
        got, body = call(event)
    assert got == status and set(body) == {"error"}, body
    assert body["error"]["code"] == ("payload_too_large" if status == 413 else "invalid_request")
    assert fragment in body["error"]["message"], body
    assert fresh.loaded is None  # refused before the model was needed
