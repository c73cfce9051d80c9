"""The Open Inference Protocol v2 layer: tensor parsing and encoding, the router's path parameters,
the protocol's error shape, and the OpenAPI document against the handler's ROUTES.

None of these needs a model. The handler answering with the real small MNIST export:
tests/slow/test_oip.py; the API Gateway export script: tests/integration/test_oip.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from openapi_spec_validator import validate

from api import handler
from api.app import oip
from api.app.http import ErrorStyle
from api.app.routing import compile_pattern, error_style, parameters, resolve
from api.errors import InvalidRequest, PayloadTooLarge
from api.runtime.settings import MAX_BATCH
from tests.support.api_support import LambdaContext, http_event, serving, store_for
from tests.support.oip_support import GOOD, HTTP_METHODS, call, openapi_document, tensor_request

SHAPES = {"NHWC": (28, 28, 1), "NHW": (28, 28), "flat": (784,)}


def images(count: int, seed: int = 0) -> np.ndarray:
    """`count` random uint8 images, [count, 28, 28]."""
    return np.random.default_rng(seed).integers(0, 256, size=(count, 28, 28), dtype=np.uint8)


# ---------------------------------------------------------------- parsing


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
@pytest.mark.parametrize("datatype", ["FP32", "UINT8"])
def test_every_datatype_and_shape_form_reads_the_same_images(
    datatype: str, shape: tuple[int, ...], binary: bool
) -> None:
    pixels = images(3)
    body, header_length = tensor_request(pixels, datatype, shape, binary)
    parsed = oip.parse_infer_request(body, header_length)
    assert parsed.batch.dtype == np.float32 and parsed.batch.shape == (3, 28, 28, 1)
    np.testing.assert_allclose(parsed.batch[..., 0], pixels / 255, atol=1e-6)


def test_json_data_may_be_flat_whatever_the_shape() -> None:
    pixels = images(2)
    body = json.dumps(
        {"inputs": [{"name": "x", "shape": [2, 28, 28, 1], "datatype": "UINT8", "data": pixels.ravel().tolist()}]}
    ).encode()
    np.testing.assert_array_equal(oip.parse_infer_request(body, None).batch[..., 0] * 255, pixels)


def test_outputs_default_to_all_and_follow_binary_data_parameters() -> None:
    body, _ = tensor_request(images(1), "UINT8", (784,), False)
    assert oip.parse_infer_request(body, None).outputs == {"probabilities": False, "prediction": False}
    body, _ = tensor_request(images(1), "UINT8", (784,), False, parameters={"binary_data_output": True})
    assert oip.parse_infer_request(body, None).outputs == {"probabilities": True, "prediction": True}
    body, _ = tensor_request(
        images(1),
        "UINT8",
        (784,),
        False,
        parameters={"binary_data_output": True},
        outputs=[{"name": "prediction", "parameters": {"binary_data": False}}],
        id="r1",
    )
    parsed = oip.parse_infer_request(body, None)
    assert parsed.outputs == {"prediction": False} and parsed.request_id == "r1"


def _json_body(tensor: dict[str, Any], **extra: Any) -> bytes:
    return json.dumps({"inputs": [tensor], **extra}).encode()


BAD_JSON_REQUESTS = {
    "empty body": (b"", "the body is empty"),
    "not JSON": (b"{nope", "not valid JSON"),
    "not an object": (b"[1]", "must be a JSON object"),
    "nested too deeply": (b'{"inputs": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nested too deeply"),
    "no inputs": (b"{}", '"inputs" must be a list of one tensor'),
    "two inputs": (json.dumps({"inputs": [GOOD, GOOD]}).encode(), '"inputs" must be a list of one tensor'),
    "no name": (_json_body({**GOOD, "name": 3}), 'needs a "name"'),
    "datatype FP64": (_json_body({**GOOD, "datatype": "FP64"}), "datatype must be FP32"),
    "datatype BYTES": (_json_body({**GOOD, "datatype": "BYTES"}), "datatype must be FP32"),
    "shape [1, 28, 27]": (_json_body({**GOOD, "shape": [1, 28, 27]}), "shape must be [N, 28, 28, 1]"),
    "shape [784]": (_json_body({**GOOD, "shape": [784]}), "shape must be"),
    "shape [0, 784]": (_json_body({**GOOD, "shape": [0, 784]}), "N of at least 1"),
    "shape of strings": (_json_body({**GOOD, "shape": ["1", "784"]}), "shape must be"),
    "shape of booleans": (_json_body({**GOOD, "shape": [True, 784]}), "shape must be"),
    "no data": (_json_body({k: v for k, v in GOOD.items() if k != "data"}), 'needs "data"'),
    "too few values": (_json_body({**GOOD, "data": [0] * 783}), "data has 783 values; its shape needs 784"),
    "ragged rows": (_json_body({**GOOD, "shape": [1, 28, 28], "data": [[0] * 28] * 27 + [[0] * 27]}), "equal rows"),
    "strings": (_json_body({**GOOD, "data": ["0"] * 784}), "data must be numbers"),
    "data 100 levels deep": (
        _json_body({**GOOD, "data": json.loads("[" * 100 + "0" + "]" * 100)}),
        "data must be numbers",
    ),
    "integer beyond int64": (_json_body({**GOOD, "data": [2**70] + [0] * 783}), "data must be numbers"),
    "booleans": (_json_body({**GOOD, "data": [True] * 784}), "data must be numbers"),
    "null": (_json_body({**GOOD, "data": [None] * 784}), "data must be numbers"),
    "UINT8 256": (_json_body({**GOOD, "data": [256] + [0] * 783}), "whole numbers from 0 to 255"),
    "UINT8 fraction": (_json_body({**GOOD, "data": [0.5] + [0] * 783}), "whole numbers from 0 to 255"),
    "FP32 above 1": (_json_body({**GOOD, "datatype": "FP32", "data": [255.0] * 784}), "from 0 to 1"),
    "FP32 negative": (_json_body({**GOOD, "datatype": "FP32", "data": [-0.1] * 784}), "from 0 to 1"),
    "unknown output": (_json_body(GOOD, outputs=[{"name": "logits"}]), "unknown output 'logits'"),
    "classification": (
        _json_body(GOOD, outputs=[{"name": "prediction", "parameters": {"classification": 3}}]),
        "classification extension is not supported",
    ),
    "binary_data_output not bool": (_json_body(GOOD, parameters={"binary_data_output": "yes"}), "true or false"),
    "parameters not an object": (_json_body({**GOOD, "parameters": [1]}), '"parameters" must be an object'),
    "id not a string": (_json_body(GOOD, id=7), '"id" must be a string'),
}


@pytest.mark.parametrize("body, message", BAD_JSON_REQUESTS.values(), ids=BAD_JSON_REQUESTS.keys())
def test_bad_json_requests_are_invalid_with_a_clear_message(body: bytes, message: str) -> None:
    with pytest.raises(InvalidRequest) as error:
        oip.parse_infer_request(body, None)
    assert message in error.value.message


def test_a_batch_over_the_limit_is_too_large() -> None:
    with pytest.raises(PayloadTooLarge):
        oip.parse_infer_request(_json_body({**GOOD, "shape": [MAX_BATCH + 1, 784]}), None)


def _binary(size_delta: int = 0, tail_delta: int = 0, **tensor: Any) -> tuple[bytes, str]:
    raw = images(1).tobytes()
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": "image",
                    "shape": [1, 784],
                    "datatype": "UINT8",
                    "parameters": {"binary_data_size": len(raw) + size_delta},
                    **tensor,
                }
            ]
        }
    ).encode()
    body = header + (raw + b"\0" * tail_delta if tail_delta >= 0 else raw[:tail_delta])
    return body, str(len(header))


BAD_BINARY_REQUESTS = {
    "size below the shape's": (
        _binary(size_delta=-1),
        "binary_data_size is 783 bytes; its shape and datatype need 784",
    ),
    "size above the shape's": (_binary(size_delta=4), "need 784"),
    "bytes missing": (_binary(tail_delta=-10), "only 774 follow the JSON header"),
    "bytes left over": (_binary(tail_delta=3), "787 bytes after the JSON header"),
    "data and binary both": (_binary(data=[0] * 784), "not both"),
    "size not a number": (_binary(parameters={"binary_data_size": "784"}), "binary_data_size must be a whole number"),
    "header length not a number": ((_binary()[0], "12a"), "Inference-Header-Content-Length must be a whole number"),
    "header length zero": ((_binary()[0], "0"), "Inference-Header-Content-Length must be"),
    "header length past the body": ((_binary()[0], "100000"), "Inference-Header-Content-Length must be"),
    "header length cuts the JSON": ((_binary()[0], "20"), "not valid JSON"),
    "binary size without the header": ((_binary()[0][: int(_binary()[1])], None), "only 0 follow"),
}


@pytest.mark.parametrize("request_, message", BAD_BINARY_REQUESTS.values(), ids=BAD_BINARY_REQUESTS.keys())
def test_bad_binary_requests_are_invalid_with_a_clear_message(request_: tuple[bytes, str | None], message: str) -> None:
    with pytest.raises(InvalidRequest) as error:
        oip.parse_infer_request(*request_)
    assert message in error.value.message


def test_binary_data_read_as_utf8_text_says_how_to_send_it() -> None:
    """serverless offline decodes a body without an octet-stream type as UTF-8, replacing bytes."""
    body, length = _binary()
    mangled = body[: int(length)] + body[int(length) :].decode("utf-8", errors="replace").encode()
    with pytest.raises(InvalidRequest) as error:
        oip.parse_infer_request(mangled, length)
    assert "Content-Type: application/octet-stream" in error.value.message


# ---------------------------------------------------------------- responses


def test_binary_outputs_follow_the_json_header_as_little_endian_bytes() -> None:
    probabilities = np.random.default_rng(1).dirichlet(np.ones(10), size=4).astype(np.float32)
    request = oip.InferRequest(np.zeros((4, 28, 28, 1), np.float32), {"probabilities": True, "prediction": True}, "q")
    response = oip.infer_response(request, probabilities, "v1")
    length = int(response.headers["Inference-Header-Content-Length"])
    header = json.loads(response.payload[:length])
    assert header["model_name"] == "number-prediction" and header["model_version"] == "v1" and header["id"] == "q"
    sizes = [output["parameters"]["binary_data_size"] for output in header["outputs"]]
    assert sizes == [4 * 10 * 4, 4 * 8] and length + sum(sizes) == len(response.payload)
    raw = response.payload[length:]
    np.testing.assert_array_equal(np.frombuffer(raw[:160], "<f4").reshape(4, 10), probabilities)
    np.testing.assert_array_equal(np.frombuffer(raw[160:], "<i8"), probabilities.argmax(axis=1))
    event = response.to_event()
    assert event["isBase64Encoded"] is True and event["headers"]["Content-Type"] == "application/octet-stream"


def test_json_outputs_carry_data_and_shapes() -> None:
    probabilities = np.eye(10, dtype=np.float32)[[3, 5]]
    request = oip.InferRequest(np.zeros((2, 28, 28, 1), np.float32), {"prediction": False})
    response = oip.infer_response(request, probabilities, "v1")
    assert response.payload == {
        "model_name": "number-prediction",
        "model_version": "v1",
        "outputs": [{"name": "prediction", "datatype": "INT64", "shape": [2], "data": [3, 5]}],
    }


# ---------------------------------------------------------------- routing


def test_patterns_match_whole_segments_and_give_parameters() -> None:
    pattern = compile_pattern("/v2/models/{name}/versions/{version}/infer")
    assert pattern.match("/v2/models/a%20b/versions/7/infer").groupdict() == {"name": "a%20b", "version": "7"}
    assert pattern.match("/v2/models/a/b/versions/7/infer") is None
    assert pattern.match("/v2/models//versions/7/infer") is None
    assert pattern.match("/v2/models/a/versions/7/infer/more") is None
    assert parameters("/v2/models/{name}/versions/{version}") == ["name", "version"]


def test_literal_routes_win_and_unmatched_paths_take_their_family_error_style() -> None:
    assert resolve(handler.ROUTES, "/v2/health/live")[1] == {}
    assert resolve(handler.ROUTES, "/v2/models/x/ready")[1] == {"name": "x"}
    assert resolve(handler.ROUTES, "/v2/models") is None
    assert error_style(handler.ROUTES, "/v2/models") is ErrorStyle.OIP
    assert error_style(handler.ROUTES, "/v2/models/x/versions/y") is ErrorStyle.OIP
    assert error_style(handler.ROUTES, "/nowhere") is ErrorStyle.API
    assert error_style(handler.ROUTES, "/predict") is ErrorStyle.API


# ---------------------------------------------------------------- through the handler


def test_errors_found_reading_the_event_take_the_paths_error_style() -> None:
    event = http_event("POST", "/v2/models/number-prediction/infer", None)
    event.update(body="not base64!", isBase64Encoded=True)
    response = handler.get_number_prediction(event, LambdaContext())
    assert response["statusCode"] == 400 and "not base64" in json.loads(response["body"])["error"]


def test_a_falsy_json_body_parsed_by_serverless_offline_is_read_as_that_json() -> None:
    event = http_event("POST", "/v2/models/number-prediction/infer", None)
    event["body"] = False  # what serverless offline passes for the JSON body `false`
    status, _, body = call_event(event)
    assert status == 400 and body == {"error": "the body must be a JSON object"}


def call_event(event: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
    response = handler.get_number_prediction(event, LambdaContext())
    return response["statusCode"], response["headers"], json.loads(response["body"])


def test_other_routes_keep_the_apis_error_shape() -> None:
    status, _, body = call("GET", "/predict")
    assert status == 405 and body["error"]["code"] == "method_not_allowed"


def test_v2_model_unavailable_is_503_with_retry_after(tmp_path: Path) -> None:
    with serving(store_for(str(tmp_path / "missing"), tmp_path / "cache")):
        for path in ("/v2/health/ready", "/v2/models/number-prediction/ready"):
            status, headers, body = call("GET", path)
            assert status == 503 and isinstance(body["error"], str) and int(headers["Retry-After"]) >= 1
        assert call("GET", "/v2/health/live")[:1] == (200,)


# ---------------------------------------------------------------- the OpenAPI document


def test_the_openapi_document_is_valid_openapi_3_1() -> None:
    document = openapi_document()
    assert document["openapi"].startswith("3.1.")
    validate(document)
    assert document["info"]["version"] == oip.SERVER_VERSION


def test_the_openapi_document_and_the_routes_table_name_the_same_paths_and_methods() -> None:
    documented = {
        (path, method.upper())
        for path, item in openapi_document()["paths"].items()
        for method in item
        if method in HTTP_METHODS
    }
    routed = {(path, method) for path, route in handler.ROUTES.items() for method in route.methods}
    assert documented == routed


def test_openapi_json_is_served() -> None:
    status, headers, body = call("GET", "/openapi.json")
    assert status == 200 and headers["Content-Type"] == "application/json" and body == openapi_document()
