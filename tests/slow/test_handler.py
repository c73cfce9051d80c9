"""The `getNumberPrediction` handler: every route, input form and error path, with real events.

Plain API Gateway event dicts (HTTP API 2.0 and REST 1.0) and a small context object go through the
real handler, which loads the real small MNIST export. What needs no model: tests/unit/test_handler.py.
"""

from __future__ import annotations

import base64
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from api.runtime.model_store import ModelStore
from api.runtime.settings import MAX_BATCH, MAX_BODY_BYTES
from tests.support.api_support import Clock, http_event, png_claiming, rest_event, serving, store_for
from tests.support.digit_images import canvas, encode, photo, transparent
from tests.support.handler_support import DIGIT, call


@pytest.fixture(scope="module")
def digits(real_mnist, loaded_store) -> list[tuple[np.ndarray, int]]:
    """Ten MNIST test digits, one of each class, that the small model reads right and surely as arrays.

    Chosen with the model itself, so that these tests check the handler, not which of the first test
    digits one training run happens to misread.
    """
    images, labels = real_mnist.test_images[:500], real_mnist.test_labels[:500]
    probabilities = loaded_store.model().predictor.predict((images / 255.0).astype(np.float32)[..., None])
    chosen: dict[int, tuple[np.ndarray, int]] = {}
    for image, label, row in zip(images, labels.tolist(), probabilities):
        if row.argmax() == label and row[label] > 0.9:
            chosen.setdefault(label, (image, label))
    assert sorted(chosen) == list(range(10)), "the test model reads some class badly"
    return [chosen[k] for k in sorted(chosen)]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# ---------------------------------------------------------------- routes and input forms

EVENT_KINDS = {
    "http-api-2.0": lambda body, **kw: http_event("POST", "/predict", body, **kw),
    "rest-api-1.0": lambda body, **kw: rest_event("POST", "/predict", body, **kw),
    "base64-body": lambda body, **kw: http_event("POST", "/predict", body, base64_body=True, **kw),
    "stage-prefixed": lambda body, **kw: http_event("POST", "/predict", body, stage="production", **kw),
}


@pytest.mark.parametrize("kind", sorted(EVENT_KINDS))
def test_predict_one_array_in_every_event_kind(store: ModelStore, digits, kind: str) -> None:
    image, label = digits[7]
    status, headers, body = call(EVENT_KINDS[kind]({"image": image.tolist()}))
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert body["prediction"] == label == 7
    assert len(body["probabilities"]) == 10 and abs(sum(body["probabilities"]) - 1) < 1e-4
    assert body["confidence"] == max(body["probabilities"]) > 0.5
    assert body["model"] == {
        "version": store.model().manifest.version,
        "name": "small",
        "runtime": "tflite",
        "precision": store.model().info["precision"],
    }


def _forms(image: np.ndarray) -> dict[str, Any]:
    light = Image.fromarray(255 - image).resize((140, 140), Image.Resampling.BICUBIC)
    return {
        "28x28 0-255": image.tolist(),
        "784 0-255": image.ravel().tolist(),
        "28x28 0-1 floats": (image / 255.0).tolist(),
        "28x28x1": image[..., None].tolist(),
        "base64 PNG": b64(encode(Image.fromarray(image))),
        "data URL JPEG, dark on light": "data:image/jpeg;base64," + b64(encode(light.convert("RGB"), "JPEG")),
        "data URL canvas PNG": "data:image/png;base64," + b64(canvas(image, np.random.default_rng(0))),
        "data URL photo": "data:image/jpeg;base64," + b64(photo(image, np.random.default_rng(0))),
        "base64 transparent PNG": b64(transparent(image, np.random.default_rng(0))),
    }


@pytest.mark.parametrize("form", sorted(_forms(np.zeros((28, 28), np.uint8))))
def test_predict_every_image_form(store: ModelStore, digits, form: str) -> None:
    for image, label in digits[2:4]:
        status, _, body = call(http_event(body={"image": _forms(image)[form]}))
        assert status == 200, body
        assert body["prediction"] == label


def test_predict_a_batch_of_mixed_forms(store: ModelStore, digits) -> None:
    items = [
        _forms(image)[form]
        for (image, _), form in zip(digits, ["28x28 0-255", "base64 PNG", "784 0-255", "data URL canvas PNG"] * 3)
    ]
    status, _, body = call(http_event(body={"images": items}))
    assert status == 200
    assert [p["prediction"] for p in body["predictions"]] == [label for _, label in digits]
    assert all(set(p) == {"prediction", "confidence", "confident", "probabilities"} for p in body["predictions"])
    assert body["model"]["runtime"] == "tflite"


def test_tensorflow_serving_instances(store: ModelStore, digits) -> None:
    instances = [image[..., None].tolist() for image, _ in digits[:4]]
    instances.append({"b64": b64(encode(Image.fromarray(digits[4][0])))})
    instances.append({"image": digits[5][0].ravel().tolist()})
    status, _, body = call(http_event(body={"signature_name": "serving_default", "instances": instances}))
    assert status == 200
    rows = np.array(body["predictions"])
    assert rows.shape == (6, 10) and rows.argmax(1).tolist() == [label for _, label in digits[:6]]


@pytest.mark.parametrize("content_type", ["image/png", "image/jpeg", "application/octet-stream"])
def test_a_raw_image_body(store: ModelStore, digits, content_type: str) -> None:
    image, label = digits[3]
    fmt = "JPEG" if content_type == "image/jpeg" else "PNG"
    data = encode(Image.fromarray(255 - image).resize((280, 280)).convert("RGB"), fmt)
    status, _, body = call(http_event(body=data, content_type=content_type, base64_body=True))
    assert status == 200 and body["prediction"] == label


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "application/json; charset=utf-8",
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/vnd.api+json",
    ],
)
def test_json_under_the_content_types_clients_send(store: ModelStore, digits, content_type: str | None) -> None:
    image, label = digits[1]
    status, _, body = call(http_event(body={"image": image.tolist()}, content_type=content_type))
    assert status == 200 and body["prediction"] == label


def test_a_direct_invocation_is_a_prediction(store: ModelStore, digits) -> None:
    image, label = digits[9]
    status, _, body = call({"image": image.tolist()})
    assert status == 200 and body["prediction"] == label


def test_get_model(store: ModelStore) -> None:
    store.model()
    status, _, body = call(http_event("GET", "/model"))
    assert status == 200
    model = body["model"]
    assert model["loaded"] is True and model["runtime"] == "tflite" and model["name"] == "small"
    assert model["labels"] == [str(d) for d in range(10)] and model["metrics"]["test"]["accuracy"] > 0.95
    assert "artifacts" not in model and "config" not in model


def test_get_model_before_the_model_is_loaded(mnist_export: Path, tmp_path: Path) -> None:
    fresh = store_for(str(mnist_export), tmp_path)
    with serving(fresh):
        status, _, body = call(rest_event("GET", "/model"))
    assert status == 200 and body["model"]["loaded"] is False and fresh.loaded is None


@pytest.mark.parametrize("path", ["/predict", "/model"])
def test_cors_preflight(store: ModelStore, path: str) -> None:
    status, headers, body = call(http_event("OPTIONS", path, content_type=None))
    assert status == 204 and body is None


@pytest.mark.parametrize("runtime", ["tflite", "savedmodel"])
def test_the_response_says_which_runtime_ran(mnist_export: Path, tmp_path: Path, digits, runtime: str) -> None:
    with serving(store_for(str(mnist_export), tmp_path, runtime)):
        image, label = digits[0]
        status, _, body = call(http_event(body={"image": image.tolist()}))
    assert status == 200 and body["prediction"] == label and body["model"]["runtime"] == runtime


# ---------------------------------------------------------------- errors

ZEROS = [[0] * 28] * 28


def _nested(document: dict[str, Any], key: str, depth: int) -> dict[str, Any]:
    """`document` with `document[key]` replaced by itself `depth` times (built without recursion)."""
    inner = document
    for _ in range(depth):
        inner[key] = {key: None}
        inner = inner[key]
    return document


def _errors() -> dict[str, tuple[Any, int, str, str]]:
    """name → (event, status, error code, a fragment of the message)."""
    tiff = encode(Image.new("L", (8, 8)), "TIFF")
    png, jpeg = encode(Image.new("L", (28, 28)), "PNG"), encode(Image.new("L", (28, 28)), "JPEG")
    return {
        "bad JSON": (http_event(body="{nope"), 400, "invalid_request", "not valid JSON"),
        "not UTF-8": (http_event(body=b'{"image": "\xc3\x28"}', base64_body=True), 400, "invalid_request", "UTF-8"),
        "JSON array": (http_event(body=[1, 2]), 400, "invalid_request", "JSON object"),
        "empty body": (http_event(body=None), 400, "invalid_request", "empty"),
        "no known key": (http_event(body={"img": ZEROS}), 400, "invalid_request", "exactly one of"),
        "two keys": (http_event(body={"image": ZEROS, "images": [ZEROS]}), 400, "invalid_request", "exactly one of"),
        "wrong shape": (http_event(body={"image": [[0] * 27] * 28}), 400, "invalid_request", "28x28"),
        "out of range": (http_event(body={"image": [[300] * 28] * 28}), 400, "invalid_request", "between 0 and 255"),
        "a number": (http_event(body={"image": 7}), 400, "invalid_request", "28x28 array"),
        "empty batch": (http_event(body={"images": []}), 400, "invalid_request", "non-empty list"),
        "batch not a list": (http_event(body={"images": "abc"}), 400, "invalid_request", "non-empty list"),
        "bad item in batch": (http_event(body={"images": [DIGIT] * 3 + [[1, 2]]}), 400, "invalid_request", "images[3]"),
        "bad instance": (http_event(body={"instances": [{"a": 1, "b": 2}]}), 400, "invalid_request", "instances[0]"),
        "undecodable image": (
            http_event(body={"image": b64(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)}),
            400,
            "invalid_request",
            "decoded",
        ),
        "not base64": (http_event(body={"image": "???"}), 400, "invalid_request", "base64"),
        "blank image": (
            http_event(body={"image": b64(encode(Image.new("L", (64, 64), 255)))}),
            400,
            "invalid_request",
            "blank",
        ),
        "bad base64 body": (
            dict(http_event(body="x"), body="@@@@", isBase64Encoded=True),
            400,
            "invalid_request",
            "not base64",
        ),
        "deeply nested JSON": (
            http_event(body='{"image": ' + "[" * 100_000 + "]" * 100_000 + "}"),
            400,
            "invalid_request",
            "nested too deeply",
        ),
        "deeply nested direct event": (
            _nested({"image": None}, "image", 5_000),
            400,
            "invalid_request",
            "nested too deeply",
        ),
        "a 5000-digit number": (
            http_event(body='{"image": ' + "7" * 5_000 + "}"),
            400,
            "invalid_request",
            "number too long",
        ),
        "integers beyond float range": (
            http_event(body={"image": [10**400] * 784}),
            400,
            "invalid_request",
            "only numbers",
        ),
        "not an HTTP event": ({"Records": []}, 400, "invalid_request", "API Gateway"),
        "not an object": ([1, 2, 3], 400, "invalid_request", "JSON object"),
        "body too large": (http_event(body="x" * (MAX_BODY_BYTES + 1)), 413, "payload_too_large", "limit"),
        "base64 body too large": (
            http_event(body=b"x" * (MAX_BODY_BYTES + 1), base64_body=True),
            413,
            "payload_too_large",
            "limit",
        ),
        "batch too large": (
            http_event(body={"images": [ZEROS] * (MAX_BATCH + 1)}),
            413,
            "payload_too_large",
            f"at most {MAX_BATCH}",
        ),
        "decompression bomb": (
            http_event(body={"image": b64(png_claiming(40_000, 40_000))}),
            413,
            "payload_too_large",
            "pixels",
        ),
        "multipart": (
            http_event(body="--x", content_type="multipart/form-data; boundary=x"),
            415,
            "unsupported_media_type",
            "multipart/form-data",
        ),
        "raw TIFF": (
            http_event(body=tiff, content_type="image/tiff", base64_body=True),
            415,
            "unsupported_media_type",
            "image/tiff",
        ),
        "TIFF in JSON": (http_event(body={"image": b64(tiff)}), 415, "unsupported_media_type", "PNG, JPEG"),
        # `serverless offline` hands image/* bodies over as UTF-8 text: the bytes that were not UTF-8 are lost.
        "PNG passed as text": (
            http_event(body=png.decode("utf-8", "replace"), content_type="image/png"),
            415,
            "unsupported_media_type",
            "a PNG image that reached the API as text",
        ),
        "JPEG passed as text": (
            http_event(body=jpeg.decode("utf-8", "replace"), content_type="image/jpeg"),
            415,
            "unsupported_media_type",
            "a JPEG image that reached the API as text",
        ),
        "data URL of text": (
            http_event(body={"image": "data:text/plain;base64,aGk="}),
            415,
            "unsupported_media_type",
            "text/plain",
        ),
        "GET /predict": (http_event("GET", "/predict"), 405, "method_not_allowed", "POST"),
        "POST /model": (rest_event("POST", "/model", {}), 405, "method_not_allowed", "GET"),
        "unknown path": (http_event("GET", "/admin"), 404, "not_found", "/predict"),
    }


@pytest.mark.parametrize("name", sorted(_errors()))
def test_errors(mnist_export: Path, tmp_path: Path, name: str) -> None:
    event, status, code, fragment = _errors()[name]
    fresh = store_for(str(mnist_export), tmp_path)
    with serving(fresh):
        got_status, headers, body = call(event)
    assert (got_status, body["error"]["code"]) == (status, code), body
    assert fragment in body["error"]["message"]
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    assert "Traceback" not in json.dumps(body)
    if status == 405:
        assert "OPTIONS" in headers["Allow"]
    assert fresh.loaded is None  # a bad request never costs a model load


def test_one_structured_log_line_per_request(store: ModelStore, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="api.request"):
        call(http_event(body={"image": DIGIT}))
        call(http_event(body="{"))
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "api.request"]
    assert len(lines) == 2
    ok, bad = lines
    assert ok["requestId"] == "lambda-req-1" and ok["route"] == "POST /predict" and ok["status"] == 200
    assert ok["runtime"] == "tflite" and 0 < ok["latencyMs"] < 1000 and "error" not in ok
    assert bad["status"] == 400 and bad["error"] == "invalid_request"


def test_a_503_does_not_stick_once_the_model_is_back(mnist_export: Path, tmp_path: Path, digits) -> None:
    clock = Clock()
    missing = tmp_path / "not-yet"
    store = store_for(str(missing), tmp_path / "cache", clock=clock)
    with serving(store):
        image, label = digits[4]
        assert call(http_event(body={"image": image.tolist()}))[0] == 503
        missing.symlink_to(mnist_export)  # the model is deployed
        clock.now += 5
        status, _, body = call(http_event(body={"image": image.tolist()}))
    assert status == 200 and body["prediction"] == label
