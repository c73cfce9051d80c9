"""Real clients over HTTP through `serverless offline`: tritonclient speaks the Open Inference
Protocol to the handler, and schemathesis fuzzes every route against `api/app/openapi.json`.

One shared `serverless offline` (the `offline_api` fixture) serves the small model trained on real
MNIST; the digits are real MNIST test images.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

from api.app.routing import compile_pattern

REPO = Path(__file__).resolve().parents[2]
MODEL = "number-prediction"
# serverless offline hands a body to the handler unaltered (base64) only for this type; without it
# binary tensor data is decoded as UTF-8 text on the way (API Gateway's HTTP API needs nothing).
BINARY_HEADERS = {"Content-Type": "application/octet-stream"}
FUZZ_REQUESTS = 1000
FUZZ_EXAMPLES = 60  # per operation and phase; about 1,300 requests in all
# Every check but the two that judge the API's leniency (schema-valid data it refuses, such as a
# blank image, and schema-invalid data it takes): those are about the document's precision.
FUZZ_CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
)

pytestmark = [pytest.mark.serverless, pytest.mark.network]


@pytest.fixture(scope="module")
def client(offline_api) -> triton.InferenceServerClient:
    return triton.InferenceServerClient(url=offline_api.url.removeprefix("http://"), network_timeout=120)


@pytest.fixture(scope="module")
def digits(real_mnist) -> tuple[np.ndarray, np.ndarray]:
    """The first 64 MNIST test digits (uint8, [64, 28, 28]) and their labels."""
    return real_mnist.test_images[:64], real_mnist.test_labels[:64].astype(np.int64)


def infer(
    client: triton.InferenceServerClient, pixels: np.ndarray, *, binary: bool, datatype: str = "FP32"
) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities and predicted digits for `pixels` ([N, 28, 28] uint8) through tritonclient."""
    tensor = pixels[..., np.newaxis].astype(np.float32) / 255 if datatype == "FP32" else pixels
    data = triton.InferInput("image", list(tensor.shape), datatype)
    if binary:  # the client's defaults: binary input, every output in binary
        data.set_data_from_numpy(tensor)
        result = client.infer(MODEL, [data], headers=BINARY_HEADERS)
    else:
        data.set_data_from_numpy(tensor, binary_data=False)
        outputs = [triton.InferRequestedOutput(name, binary_data=False) for name in ("probabilities", "prediction")]
        result = client.infer(MODEL, [data], outputs=outputs)
    return result.as_numpy("probabilities"), result.as_numpy("prediction")


def test_health_and_metadata(client: triton.InferenceServerClient) -> None:
    assert client.is_server_live() and client.is_server_ready()
    server = client.get_server_metadata()
    assert server["name"] == MODEL and "binary_tensor_data" in server["extensions"]
    model = client.get_model_metadata(MODEL)
    assert model["inputs"] == [{"name": "image", "datatype": "FP32", "shape": [-1, 28, 28, 1]}]
    assert model["outputs"][0] == {"name": "probabilities", "datatype": "FP32", "shape": [-1, 10]}
    version = model["versions"][0]
    assert client.is_model_ready(MODEL) and client.is_model_ready(MODEL, model_version=version)
    assert client.get_model_metadata(MODEL, model_version=version) == model


def test_an_unknown_model_is_not_found_and_not_ready(client: triton.InferenceServerClient) -> None:
    assert not client.is_model_ready("mnist")
    assert not client.is_model_ready(MODEL, model_version="no-such-version")
    with pytest.raises(InferenceServerException) as error:
        client.get_model_metadata("mnist")
    assert error.value.status() == "404" and "unknown model 'mnist'" in error.value.message()


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_one_digit_is_read(client: triton.InferenceServerClient, digits, binary: bool) -> None:
    probabilities, prediction = infer(client, digits[0][:1], binary=binary)
    assert probabilities.shape == (1, 10) and probabilities.dtype == np.float32
    assert prediction.tolist() == [digits[1][0]] == [7]
    assert abs(float(probabilities.sum()) - 1) < 1e-4


@pytest.mark.parametrize("datatype", ["FP32", "UINT8"])
def test_a_batch_of_64_reads_the_same_in_json_and_binary(
    client: triton.InferenceServerClient, digits, datatype: str
) -> None:
    pixels, labels = digits
    json_probabilities, json_prediction = infer(client, pixels, binary=False, datatype=datatype)
    binary_probabilities, binary_prediction = infer(client, pixels, binary=True, datatype=datatype)
    assert binary_prediction.dtype == np.int64 and binary_prediction.shape == (64,)
    np.testing.assert_array_equal(binary_prediction, json_prediction)
    np.testing.assert_allclose(binary_probabilities, json_probabilities, atol=1e-6)
    np.testing.assert_array_equal(binary_prediction, binary_probabilities.argmax(axis=1))
    assert np.mean(binary_prediction == labels) >= 0.95  # the small test model reads ~98% of MNIST


def test_a_bad_shape_is_400_with_a_string_message(client: triton.InferenceServerClient, digits) -> None:
    data = triton.InferInput("image", [1, 27, 28], "UINT8")
    data.set_data_from_numpy(digits[0][:1, :27])
    with pytest.raises(InferenceServerException) as error:
        client.infer(MODEL, [data], headers=BINARY_HEADERS)
    assert error.value.status() == "400" and "shape must be [N, 28, 28, 1]" in error.value.message()


def test_binary_data_mangled_by_serverless_offline_is_explained(client: triton.InferenceServerClient, digits) -> None:
    """Without Content-Type: application/octet-stream, serverless offline reads the body as UTF-8."""
    data = triton.InferInput("image", [1, 28, 28], "UINT8")
    data.set_data_from_numpy(digits[0][:1])
    with pytest.raises(InferenceServerException) as error:
        client.infer(MODEL, [data])
    assert error.value.status() == "400" and "Content-Type: application/octet-stream" in error.value.message()


def test_openapi_json_is_served_over_http(offline_api) -> None:
    status, headers, body = offline_api.request("GET", "/openapi.json")
    assert status == 200 and body == json.loads((REPO / "api" / "app" / "openapi.json").read_text(encoding="utf-8"))


def test_schemathesis_finds_no_server_error_and_no_nonconforming_answer(offline_api, tmp_path: Path) -> None:
    """The schemathesis CLI, as a user runs it, against the running API: at least FUZZ_REQUESTS
    generated requests (valid and invalid, every operation), none answered 5xx, every answer as
    documented. The count comes from the HAR file schemathesis writes of what it sent."""
    har = tmp_path / "requests.har"
    run = subprocess.run(
        [
            str(Path(sys.executable).with_name("schemathesis")),
            "run",
            str(REPO / "api" / "app" / "openapi.json"),
            "--url",
            offline_api.url,
            "--checks",
            ",".join(FUZZ_CHECKS),
            "--max-examples",
            str(FUZZ_EXAMPLES),
            "--seed",
            "1",
            "--generation-database",
            "none",
            "--workers",
            "1",
            "--request-timeout",
            "60",
            "--report",
            "har",
            "--report-har-path",
            str(har),
            "--no-color",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    entries = json.loads(har.read_text())["log"]["entries"]
    statuses = Counter(entry["response"]["status"] for entry in entries)
    assert len(entries) >= FUZZ_REQUESTS and not any(status >= 500 for status in statuses), statuses
    paths = json.loads((REPO / "api" / "app" / "openapi.json").read_text(encoding="utf-8"))["paths"]
    documented = {(method.upper(), pattern) for pattern, item in paths.items() for method in item}
    sent = {
        (entry["request"]["method"], pattern)
        for entry in entries
        for pattern in paths
        if compile_pattern(pattern).match(urlsplit(entry["request"]["url"]).path)
    }
    assert sent >= documented, documented - sent
