"""The number reader in the export the suite trains (`mnist_export`: a small reader, a few thousand lines).

What holds whatever the small reader's accuracy: the export carries `reader.tflite`, its int8 model
`reader-int8.tflite` and their manifest section; LiteRT runs either on lines from one digit to the
sixteen-digit limit, one distribution over the digits and the blank per column step; a number request
loads the one MODEL_PRECISION picks, only then; an export from before the int8 reader still reads
numbers; an export without a reader answers a number request with a 400 naming the command that adds
one. How well a fully trained reader reads is the benchmark's (`bench/read_numbers.py`). Which reader
`auto` picks from given figures: tests/unit/test_quantize.py; quantising an older export's reader:
tests/slow/test_quantize.py.
"""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from api import handler
from api.errors import ModelUnavailable
from api.pictures.ink import NoDigit
from api.pictures.line import LINE_HEIGHT, MAX_DIGITS, to_line
from api.pictures.reading import read_line
from api.runtime.manifest import (
    AUTO,
    MANIFEST_NAME,
    READER,
    READER_CLASSES,
    READER_FILE,
    READER_INT8,
    READER_VARIANT_FILES,
)
from api.runtime.reader import WIDTH_STEP, LiteRTReader
from ml_model.artifacts import verify_export
from ml_model.errors import ExportError
from ml_model.reader import check_integer
from tests.support.api_support import LambdaContext, http_event, serving, store_for
from tests.support.numbers_support import b64, number_ink, png_of


def number_picture(real_mnist, count: int, gap: float = 0.3) -> np.ndarray:
    """Grey levels of `count` MNIST test digits written left to right, dark on white."""
    ink, _ = number_ink([real_mnist.test_images[i] for i in range(count)], height=40, gap=gap, margin=12)
    return (255 * (1 - ink)).astype(np.uint8)


def test_the_export_carries_the_reader_and_its_measurements(mnist_export: Path) -> None:
    manifest = verify_export(mnist_export)  # sizes and sha256 of every artifact, the reader's included
    assert manifest.artifacts[READER].path == READER_FILE
    size = (mnist_export / READER_FILE).stat().st_size
    assert 0 < size <= 2 * 1024 * 1024
    section = json.loads((mnist_export / MANIFEST_NAME).read_text())[READER]
    assert section["input"]["shape"] == [1, LINE_HEIGHT, None, 1]
    assert (
        section["output"]["shape"] == [1, None, READER_CLASSES]
        and section["output"]["stride"] == LiteRTReader(mnist_export / READER_FILE).stride
    )
    test = section["metrics"]["test"]
    assert test["lines"] > 0 and 0 <= test["lineAccuracy"] <= 1 and test["msPerLine"] > 0
    # Even the suite's small, briefly trained reader reads whole held-out lines (an untrained one reads none).
    assert test["lineAccuracy"] > 0.1, test
    assert section["training"]["lines"] > 0 and section["training"]["seconds"] > 0
    assert section["config"]["layers"][0]["parameters"]["inputShape"] == [LINE_HEIGHT, None, 1]


def test_the_export_carries_an_int8_reader_measured_beside_the_float_one(mnist_export: Path) -> None:
    manifest = verify_export(mnist_export)
    assert manifest.artifacts[READER_INT8].path == "reader-int8.tflite"
    float_size, int8_size = (
        (mnist_export / READER_FILE).stat().st_size,
        (mnist_export / "reader-int8.tflite").stat().st_size,
    )
    assert int8_size < 0.4 * float_size  # int8 weights: a quarter of float32's, and a header
    section = json.loads((mnist_export / MANIFEST_NAME).read_text())[READER]
    variants = section["variants"]
    assert set(variants) == {"float32", "int8"}
    assert variants["float32"]["artifact"] == READER and variants["int8"]["artifact"] == READER_INT8
    for entry in variants.values():
        assert entry["lines"] == section["metrics"]["test"]["lines"] > 0
        assert 0 <= entry["lineAccuracy"] <= 1 and entry["msPerLine"] > 0
    assert variants["float32"]["lineAccuracy"] == section["metrics"]["test"]["lineAccuracy"]
    # Calibrated on lines of training digits, int8 reads the held-out lines about as float32 does.
    assert variants["int8"]["lineAccuracy"] >= variants["float32"]["lineAccuracy"] - 0.05, variants
    assert set(manifest.reader_variants) == {"float32", "int8"}


def test_the_int8_reader_is_integer_throughout_with_a_dynamic_width(mnist_export: Path) -> None:
    """What the export checked before writing it: float32 only at the input and output, the width resized
    per line; the same check refuses the float reader."""
    check_integer((mnist_export / "reader-int8.tflite").read_bytes(), mnist_export / READER_FILE)
    with pytest.raises(ExportError, match="keeps .* float tensors"):
        check_integer((mnist_export / READER_FILE).read_bytes(), mnist_export / READER_FILE)


@pytest.mark.parametrize("file", READER_VARIANT_FILES.values())
@pytest.mark.parametrize("count", [1, 2, 5, 10, MAX_DIGITS])
def test_lines_from_one_digit_to_the_limit_run_in_one_pass(
    mnist_export: Path, real_mnist, count: int, file: str
) -> None:
    reader = LiteRTReader(mnist_export / file, num_threads=1)
    grey = number_picture(real_mnist, count)
    line = to_line(grey)
    probabilities = reader.run(line.image)
    padded = line.image.shape[1] + -line.image.shape[1] % WIDTH_STEP
    assert probabilities.shape == (padded // reader.stride, READER_CLASSES)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-4)
    try:
        digits = read_line(line, reader.run, reader.stride)
    except NoDigit:  # the suite's small reader may see no digit in a line: a 400, never an error
        digits = []
    assert len(digits) <= MAX_DIGITS
    xs = [d.box[0] for d in digits]
    assert xs == sorted(xs)
    for x, y, w, h in (d.box for d in digits):
        assert 0 <= x and 0 <= y and w >= 1 and h >= 1 and x + w <= grey.shape[1] and y + h <= grey.shape[0]


def test_a_number_through_the_handler_loads_the_reader_then_and_only_then(mnist_export, real_mnist, tmp_path) -> None:
    fresh = store_for(str(mnist_export), tmp_path)
    with serving(fresh):
        picture = b64(png_of(1 - number_picture(real_mnist, 1) / 255.0))
        digit = handler.get_number_prediction(http_event(body={"image": picture}), LambdaContext())
        assert digit["statusCode"] == 200 and fresh.loaded is not None and not fresh.reader_loaded
        event = http_event(body={"image": b64(png_of(1 - number_picture(real_mnist, 4) / 255.0)), "read": "number"})
        response = handler.get_number_prediction(event, LambdaContext())
    assert response["statusCode"] == 200, response["body"]
    assert fresh.reader_loaded
    body = json.loads(response["body"])
    assert set(body) == {"number", "confidence", "confident", "digits", "model"}
    assert body["number"] == "".join(str(d["prediction"]) for d in body["digits"])


def test_an_export_without_a_reader_answers_numbers_with_a_400_naming_the_command(
    mnist_export: Path, real_mnist, tmp_path: Path
) -> None:
    old = tmp_path / "old"
    shutil.copytree(mnist_export, old, ignore=shutil.ignore_patterns("saved_model", READER_FILE))
    raw = json.loads((old / MANIFEST_NAME).read_text())
    del raw["artifacts"][READER], raw[READER]
    (old / MANIFEST_NAME).write_text(json.dumps(raw))
    fresh = store_for(str(old), tmp_path / "cache")
    event = http_event(body={"image": b64(png_of(1 - number_picture(real_mnist, 3) / 255.0)), "read": "number"})
    with serving(fresh):
        response = handler.get_number_prediction(event, LambdaContext())
        digit = handler.get_number_prediction(
            http_event(body={"image": b64(png_of(1 - number_picture(real_mnist, 1) / 255.0))}), LambdaContext()
        )
    body = json.loads(response["body"])
    assert response["statusCode"] == 400 and body["error"]["code"] == "invalid_request", body
    assert "python -m ml_model train" in body["error"]["message"]
    assert digit["statusCode"] == 200  # digits are served from it as ever


def test_the_reader_is_the_open_inference_protocol_s_second_model(mnist_export: Path, real_mnist, tmp_path) -> None:
    """`number-reader`: metadata, ready, and infer (JSON and binary) answering what LiteRT computes."""
    fresh = store_for(str(mnist_export), tmp_path)
    line = to_line(number_picture(real_mnist, 3)).image
    expected = LiteRTReader(mnist_export / READER_FILE, num_threads=1).run(line)
    path = "/v2/models/number-reader"
    request = {"inputs": [{"name": "line", "shape": [1, 32, line.shape[1], 1], "datatype": "FP32"}]}
    with serving(fresh):
        meta = handler.get_number_prediction(http_event("GET", path), LambdaContext())
        ready = handler.get_number_prediction(http_event("GET", path + "/ready"), LambdaContext())
        as_json = handler.get_number_prediction(
            http_event(
                path=path + "/infer",
                body={**request, "inputs": [{**request["inputs"][0], "data": line.ravel().tolist()}]},
            ),
            LambdaContext(),
        )
        header = json.dumps(
            {
                **request,
                "inputs": [{**request["inputs"][0], "parameters": {"binary_data_size": line.size * 4}}],
                "parameters": {"binary_data_output": True},
            }
        ).encode()
        event = http_event(
            path=path + "/infer",
            body=header + line.astype("<f4").tobytes(),
            content_type="application/octet-stream",
            base64_body=True,
        )
        event["headers"]["inference-header-content-length"] = str(len(header))
        as_binary = handler.get_number_prediction(event, LambdaContext())
        wrong = handler.get_number_prediction(
            http_event(
                path=path + "/infer",
                body={"inputs": [{"name": "line", "shape": [1, 28, 5, 1], "datatype": "FP32", "data": [0] * 140}]},
            ),
            LambdaContext(),
        )
    assert meta["statusCode"] == 200 and json.loads(meta["body"])["inputs"][0]["shape"] == [1, 32, -1, 1]
    assert ready["statusCode"] == 200 and json.loads(ready["body"])["ready"] is True
    body = json.loads(as_json["body"])
    assert as_json["statusCode"] == 200 and body["outputs"][0]["shape"] == [1, *expected.shape]
    np.testing.assert_allclose(np.asarray(body["outputs"][0]["data"]).reshape(expected.shape), expected, atol=1e-5)
    raw = base64.b64decode(as_binary["body"]) if as_binary.get("isBase64Encoded") else as_binary["body"].encode()
    length = int(as_binary["headers"]["Inference-Header-Content-Length"])
    np.testing.assert_allclose(np.frombuffer(raw[length:], "<f4").reshape(expected.shape), expected, atol=1e-5)
    assert wrong["statusCode"] == 400 and "shape must be [1, 32, W, 1]" in json.loads(wrong["body"])["error"]


def number_event(real_mnist, count: int) -> dict:
    return http_event(body={"image": b64(png_of(1 - number_picture(real_mnist, count) / 255.0)), "read": "number"})


@pytest.mark.parametrize("precision", ["auto", "float32", "int8"])
def test_model_precision_picks_the_reader_and_get_model_names_it(
    mnist_export: Path, real_mnist, tmp_path: Path, precision: str
) -> None:
    fresh = store_for(str(mnist_export), tmp_path, precision=precision)
    manifest = verify_export(mnist_export)
    expected = manifest.reader_variant(precision)
    assert precision == "auto" or expected.precision == precision
    with serving(fresh):
        before = json.loads(handler.get_number_prediction(http_event("GET", "/model"), LambdaContext())["body"])
        response = handler.get_number_prediction(number_event(real_mnist, 4), LambdaContext())
        after = json.loads(handler.get_number_prediction(http_event("GET", "/model"), LambdaContext())["body"])
    assert response["statusCode"] == 200, response["body"]
    assert "readerPrecision" not in before["model"]
    assert after["model"]["readerPrecision"] == fresh.reader_precision == expected.precision
    assert (tmp_path / f"{manifest.artifact(expected.artifact).sha256}.tflite").is_file()


def test_an_export_from_before_the_int8_reader_still_reads_numbers(mnist_export: Path, real_mnist, tmp_path) -> None:
    old = tmp_path / "old"
    shutil.copytree(mnist_export, old, ignore=shutil.ignore_patterns("saved_model", "reader-int8.tflite"))
    raw = json.loads((old / MANIFEST_NAME).read_text())
    del raw["artifacts"][READER_INT8], raw[READER]["variants"]
    (old / MANIFEST_NAME).write_text(json.dumps(raw))
    assert set(verify_export(old).reader_variants) == {"float32"}
    fresh = store_for(str(old), tmp_path / "cache", precision=AUTO)
    with serving(fresh):
        response = handler.get_number_prediction(number_event(real_mnist, 3), LambdaContext())
    assert response["statusCode"] == 200, response["body"]
    assert fresh.reader_precision == "float32"
    # int8 by name is refused, as a digit variant the export lacks is, naming the command that adds it;
    # digits are served all the same.
    int8 = store_for(str(old), tmp_path / "cache", precision="int8")
    with serving(int8):
        refused = handler.get_number_prediction(number_event(real_mnist, 3), LambdaContext())
        digit = handler.get_number_prediction(
            http_event(body={"image": b64(png_of(1 - number_picture(real_mnist, 1) / 255.0))}), LambdaContext()
        )
    assert refused["statusCode"] == 503, refused["body"]
    assert "no int8 number reader" in refused["body"] and "ml_model quantize" in refused["body"]
    assert digit["statusCode"] == 200 and json.loads(digit["body"])["model"]["precision"] == "int8"
    with pytest.raises(ModelUnavailable):
        int8.reader()
