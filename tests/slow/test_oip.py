"""The Open Inference Protocol v2 through the handler with the real small MNIST export: versions in
the path must be the loaded manifest's, real digits are inferred, and errors are the protocol's strings.

Parsing, encoding, routing and the OpenAPI document: tests/unit/test_oip.py.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from api.runtime.model_store import ModelStore
from api.runtime.settings import MAX_BATCH
from tests.support.oip_support import GOOD, call, tensor_request

# ---------------------------------------------------------------- through the handler


def test_versions_in_the_path_must_be_the_loaded_manifests(store: ModelStore) -> None:
    version = store.manifest().version
    status, _, body = call("GET", f"/v2/models/number-prediction/versions/{version}")
    assert status == 200 and body["versions"] == [version] and body["inputs"][0]["name"] == "image"
    status, _, body = call("GET", "/v2/models/number-prediction/versions/1999-01-01T00-00-00Z/ready")
    assert status == 404 and isinstance(body["error"], str) and version in body["error"]


def test_infer_through_the_handler_reads_real_digits(store: ModelStore, real_mnist) -> None:
    pixels, labels = real_mnist.test_images[:16], real_mnist.test_labels[:16]
    body, length = tensor_request(pixels, "UINT8", (28, 28), True)
    status, headers, answer = call(
        "POST",
        "/v2/models/number-prediction/infer",
        body,
        content_type="application/octet-stream",
        headers={"inference-header-content-length": length},
        base64_body=True,
    )
    assert status == 200 and headers["Content-Type"] == "application/json"
    outputs = {output["name"]: output for output in answer["outputs"]}
    assert outputs["prediction"]["shape"] == [16] and outputs["probabilities"]["shape"] == [16, 10]
    assert np.mean(np.array(outputs["prediction"]["data"]) == labels) >= 0.9


@pytest.mark.parametrize(
    "method, path, body, status",
    [
        ("POST", "/v2/models/number-prediction/infer", {"inputs": []}, 400),
        ("POST", "/v2/models/other/infer", {"inputs": [GOOD]}, 404),
        ("GET", "/v2/models/number-prediction/infer", None, 405),
        ("GET", "/v2/repository/index", None, 404),
        ("POST", "/v2/models/number-prediction/infer", {"inputs": [{**GOOD, "shape": [MAX_BATCH + 1, 784]}]}, 413),
    ],
)
def test_v2_errors_are_the_protocols_string_messages(
    store: ModelStore, method: str, path: str, body: Any, status: int
) -> None:
    got, headers, answer = call(method, path, body)
    assert got == status and set(answer) == {"error"} and isinstance(answer["error"], str) and answer["error"]
    assert headers["Access-Control-Allow-Origin"] == "*"
