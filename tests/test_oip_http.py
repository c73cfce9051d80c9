"""Real clients over HTTP through `serverless offline`: tritonclient speaks the Open Inference
Protocol to the handler, and schemathesis fuzzes every route against `api/openapi.json`.

One shared `serverless offline` (the `offline_api` fixture) serves the small model trained on real
MNIST; the digits are real MNIST test images.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import hypothesis
import numpy as np
import pytest
import schemathesis
import tritonclient.http as triton
from schemathesis.generation import GenerationMode
from tritonclient.utils import InferenceServerException

REPO = Path(__file__).resolve().parents[1]
MODEL = "number-prediction"
# serverless offline hands a body to the handler unaltered (base64) only for this type; without it
# binary tensor data is decoded as UTF-8 text on the way (API Gateway's HTTP API needs nothing).
BINARY_HEADERS = {"Content-Type": "application/octet-stream"}
FUZZ_REQUESTS = 1000
# Generated requests per operation and mode. /predict's bodies (lists of 784-number images) take
# about 0.3 s each to generate; the other operations' about 10-50 ms.
EXAMPLES = {"POST /predict": 50}
DEFAULT_EXAMPLES = 120

pytestmark = [pytest.mark.serverless, pytest.mark.slow, pytest.mark.network]


@pytest.fixture(scope="module")
def client(offline_api) -> triton.InferenceServerClient:
    return triton.InferenceServerClient(url=offline_api.url.removeprefix("http://"), network_timeout=120)


@pytest.fixture(scope="module")
def digits(real_mnist) -> tuple[np.ndarray, np.ndarray]:
    """The first 64 MNIST test digits (uint8, [64, 28, 28]) and their labels."""
    return real_mnist.test_images[:64], real_mnist.test_labels[:64].astype(np.int64)


def infer(client: triton.InferenceServerClient, pixels: np.ndarray, *, binary: bool,
          datatype: str = "FP32") -> tuple[np.ndarray, np.ndarray]:
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
def test_a_batch_of_64_reads_the_same_in_json_and_binary(client: triton.InferenceServerClient, digits,
                                                         datatype: str) -> None:
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
    assert status == 200 and body == json.loads((REPO / "api" / "openapi.json").read_text(encoding="utf-8"))


def test_schemathesis_finds_no_server_error_and_no_nonconforming_answer(offline_api) -> None:
    """At least FUZZ_REQUESTS generated requests, valid and invalid, over every documented operation."""
    schema = schemathesis.openapi.from_path(REPO / "api" / "openapi.json")
    checks = [schemathesis.checks.not_a_server_error]
    checks += [getattr(schemathesis.specs.openapi.checks, name) for name in (
        "status_code_conformance", "content_type_conformance", "response_headers_conformance",
        "response_schema_conformance")]
    sent: Counter[str] = Counter()
    for result in schema.get_all_operations():
        operation = result.ok()
        label = f"{operation.method.upper()} {operation.path}"
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            @hypothesis.settings(max_examples=EXAMPLES.get(label, DEFAULT_EXAMPLES), deadline=None, database=None,
                                 derandomize=True, phases=[hypothesis.Phase.generate],
                                 suppress_health_check=list(hypothesis.HealthCheck))
            @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
            def fuzz(case: Any) -> None:
                sent[label] += 1
                case.call_and_validate(base_url=offline_api.url, checks=checks, timeout=60)

            try:
                fuzz()
            except hypothesis.errors.Unsatisfiable:  # nothing to make invalid: no body, any path string is valid
                assert mode is GenerationMode.NEGATIVE, label
    assert len(sent) == len(handler_operations()), sent
    assert sum(sent.values()) >= FUZZ_REQUESTS, sent


def handler_operations() -> set[str]:
    from api.handler import ROUTES

    return {f"{method} {path}" for path, route in ROUTES.items() for method in route.methods}
