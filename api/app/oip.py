"""The Open Inference Protocol v2 (KServe / Triton REST) for the one model this API serves.

Routes (`api/handler.py` ROUTES): `GET /v2`, `/v2/health/live`, `/v2/health/ready`,
`/v2/models/number-prediction[/versions/{version}]`, `.../ready`, and `POST .../infer`. The model's
version is the loaded manifest's `version`.

An inference request has one input tensor: FP32 in [0, 1] or UINT8 in [0, 255], shape
`[N, 28, 28, 1]`, `[N, 28, 28]` or `[N, 784]`, white digit on black as MNIST. Its values come either
as JSON `data` (flat or nested, row-major) or, with the binary tensor data extension, as raw
little-endian bytes after the JSON header: the `Inference-Header-Content-Length` header gives the
JSON's length and the input's `binary_data_size` parameter its byte count. That is what
`tritonclient` sends by default. Outputs: `probabilities` (FP32 `[N, 10]`) and `prediction` (INT64
`[N]`, the most probable digit); each is returned as JSON `data` or, when the request asks with
`binary_data_output` (all outputs) or an output's `binary_data`, as raw bytes after the JSON header.

Errors are the domain errors of `api.errors`; routes registered with the protocol's error style
answer them as `{"error": "message"}` (`api.app.http.error_response`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import numpy as np

from api.app import oip_reader
from api.app.http import Request, Response, json_object
from api.app.tensors import BINARY_MEDIA_TYPE, binary_values, json_values, mangled_hint, parameters, split_body
from api.errors import InvalidRequest, NotFound, PayloadTooLarge
from api.runtime.manifest import (
    IMAGE_PIXELS,
    IMAGE_SHAPE,
    INPUT_NAME,
    NUM_CLASSES,
    READER_MODEL_NAME,
    SAVEDMODEL,
    TFLITE,
)
from api.runtime.model_store import ModelStore
from api.runtime.settings import MAX_BATCH

MODEL_NAME = "number-prediction"
SERVER_NAME = "number-prediction"
SERVER_VERSION = "0.1.0"
EXTENSIONS = ("binary_tensor_data",)
HEADER_LENGTH = "inference-header-content-length"  # request headers are lower-cased by api.app.http
# Platform names follow the protocol's "<project>_<format>".
PLATFORMS = {TFLITE: "litert_tflite", SAVEDMODEL: "tensorflow_savedmodel"}

# Input datatypes, their little-endian numpy types, and the value that means full white.
INPUT_TYPES = {"FP32": (np.dtype("<f4"), 1.0), "UINT8": (np.dtype("u1"), 255.0)}
# The per-image shapes an input may have after its batch dimension.
IMAGE_SHAPES = (IMAGE_SHAPE, IMAGE_SHAPE[:2], (IMAGE_PIXELS,))
PROBABILITIES = "probabilities"
PREDICTION = "prediction"
OUTPUT_TYPES = {PROBABILITIES: ("FP32", np.dtype("<f4")), PREDICTION: ("INT64", np.dtype("<i8"))}


@dataclass(frozen=True)
class InferRequest:
    """A parsed inference request: the images as the model takes them, and what to send back."""

    batch: np.ndarray  # float32 [N, 28, 28, 1] in [0, 1]
    outputs: Mapping[str, bool]  # output name → send as binary data
    request_id: str | None = None


# ---------------------------------------------------------------- routes


def server_metadata(request: Request) -> Response:
    return Response(200, {"name": SERVER_NAME, "version": SERVER_VERSION, "extensions": list(EXTENSIONS)})


def server_live(request: Request) -> Response:
    return Response(200, {"live": True})


def server_ready(request: Request, store: ModelStore) -> Response:
    """Ready when the model is loaded, or loads now; otherwise the store's 503."""
    store.model()
    return Response(200, {"ready": True})


def model_metadata(request: Request, store: ModelStore) -> Response:
    if asked_model(request) == READER_MODEL_NAME:
        return oip_reader.metadata(request, store)
    version = served_version(request, store)
    inputs = [{"name": INPUT_NAME, "datatype": "FP32", "shape": [-1, *IMAGE_SHAPE]}]
    outputs = [
        {"name": PROBABILITIES, "datatype": "FP32", "shape": [-1, NUM_CLASSES]},
        {"name": PREDICTION, "datatype": "INT64", "shape": [-1]},
    ]
    return Response(
        200,
        {
            "name": MODEL_NAME,
            "versions": [version],
            "platform": PLATFORMS[store.runtime()],
            "inputs": inputs,
            "outputs": outputs,
        },
    )


def model_ready(request: Request, store: ModelStore) -> Response:
    if asked_model(request) == READER_MODEL_NAME:
        return oip_reader.ready(request, store)
    check_model_name(request)
    store.model()
    served_version(request, store)
    return Response(200, {"name": MODEL_NAME, "ready": True})


def infer(request: Request, store: ModelStore) -> Response:
    # Another model is 404 before a bad body is 400; a bad body is 400 even while the model is unavailable.
    if asked_model(request) == READER_MODEL_NAME:
        return oip_reader.infer(request, store)
    check_model_name(request)
    parsed = parse_infer_request(request.body, request.headers.get(HEADER_LENGTH), store.settings.max_batch)
    model = store.model()  # loaded first, so the version checked is the one that answers
    version = served_version(request, store)
    return infer_response(parsed, model.predictor.predict(parsed.batch), version)


def served_version(request: Request, store: ModelStore) -> str:
    """The version of the model the path names; NotFound for another model or version."""
    check_model_name(request)
    version = store.manifest().version
    asked = request.params.get("version")
    if asked is not None and unquote(asked) != version:
        raise NotFound(f"model '{MODEL_NAME}' has no version '{unquote(asked)}'; it has '{version}'")
    return version


def asked_model(request: Request) -> str:
    """The model the path names."""
    return unquote(request.params.get("name", ""))


def check_model_name(request: Request) -> None:
    """NotFound unless the path names this server's digit model (the reader is `api.app.oip_reader`'s)."""
    name = asked_model(request)
    if name != MODEL_NAME:
        raise NotFound(f"unknown model '{name}'; this server has '{MODEL_NAME}' (and '{READER_MODEL_NAME}')")


# ---------------------------------------------------------------- requests


def parse_infer_request(body: bytes, header_length: str | None, max_batch: int = MAX_BATCH) -> InferRequest:
    """The inference request in `body`; raises InvalidRequest (400) or PayloadTooLarge (413)."""
    header, binary = split_body(body, header_length)
    document = json_object(header, '{"inputs": [{"name", "shape", "datatype", "data"}]}')
    inputs = document.get("inputs")
    if not isinstance(inputs, list) or len(inputs) != 1 or not isinstance(inputs[0], dict):
        raise InvalidRequest(f'"inputs" must be a list of one tensor (the model\'s input "{INPUT_NAME}")')
    batch, used = read_tensor(inputs[0], binary, max_batch)
    if used != len(binary):
        raise InvalidRequest(
            f"the body has {len(binary)} bytes after the JSON header, but the inputs' "
            f"binary_data_size says {used}{mangled_hint(binary)}"
        )
    request_id = document.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise InvalidRequest('"id" must be a string')
    return InferRequest(batch, requested_outputs(document), request_id)


def read_tensor(tensor: Mapping[str, Any], binary: bytes, max_batch: int = MAX_BATCH) -> tuple[np.ndarray, int]:
    """An input tensor as float32 [N, 28, 28, 1] in [0, 1], and how many bytes of `binary` it used."""
    name = tensor.get("name")
    if not isinstance(name, str):
        raise InvalidRequest('an input needs a "name" (a string)')
    datatype = tensor.get("datatype")
    if datatype not in INPUT_TYPES:
        raise InvalidRequest(f"input '{name}': datatype must be FP32 (0 to 1) or UINT8 (0 to 255), not {datatype!r}")
    dtype, white = INPUT_TYPES[datatype]
    count = _image_count(name, tensor.get("shape"), max_batch)
    size = parameters(tensor, f"input '{name}'").get("binary_data_size")
    if size is None:
        values, used = json_values(name, tensor.get("data"), dtype, count * IMAGE_PIXELS), 0
    else:
        values, used = binary_values(name, tensor, size, binary, dtype, count * IMAGE_PIXELS), size
    if datatype == "FP32":
        low, high = (float(values.min()), float(values.max()))
        if not (math.isfinite(low) and math.isfinite(high)) or low < 0 or high > 1:
            raise InvalidRequest(f"input '{name}': FP32 values must be from 0 to 1 (send 0-255 pixels as UINT8)")
    batch = values.astype(np.float32).reshape(count, *IMAGE_SHAPE)
    return (batch / white if white != 1.0 else batch), used


def _image_count(name: str, shape: Any, max_batch: int) -> int:
    forms = " or ".join(str(["N", *form]).replace("'", "") for form in IMAGE_SHAPES)
    if (
        not isinstance(shape, list)
        or not shape
        or not all(isinstance(d, int) and not isinstance(d, bool) for d in shape)
        or tuple(shape[1:]) not in IMAGE_SHAPES
        or shape[0] < 1
    ):
        raise InvalidRequest(f"input '{name}': shape must be {forms} with N of at least 1, not {shape!r}")
    if shape[0] > max_batch:
        raise PayloadTooLarge(f"input '{name}': {shape[0]} images; at most {max_batch} per request")
    return shape[0]


def requested_outputs(document: Mapping[str, Any]) -> dict[str, bool]:
    """Output name → binary, from `outputs` (default: all) and the `binary_data` parameters."""
    binary_default = parameters(document, "the request").get("binary_data_output", False)
    if not isinstance(binary_default, bool):
        raise InvalidRequest("binary_data_output must be true or false")
    requested = document.get("outputs")
    if requested is None:
        return {name: binary_default for name in OUTPUT_TYPES}
    if not isinstance(requested, list) or not requested:
        raise InvalidRequest('"outputs" must be a non-empty list of {"name": ...}')
    outputs: dict[str, bool] = {}
    for item in requested:
        name = item.get("name") if isinstance(item, dict) else None
        if name not in OUTPUT_TYPES:
            raise InvalidRequest(f"unknown output {name!r}; the model's outputs are {', '.join(OUTPUT_TYPES)}")
        given = parameters(item, f"output '{name}'")
        if "classification" in given:
            raise InvalidRequest(
                f"the classification extension is not supported; ask for the '{PREDICTION}' output instead"
            )
        binary = given.get("binary_data", binary_default)
        if not isinstance(binary, bool):
            raise InvalidRequest(f"output '{name}': binary_data must be true or false")
        outputs[name] = binary
    return outputs


# ---------------------------------------------------------------- responses


def infer_response(request: InferRequest, probabilities: np.ndarray, version: str) -> Response:
    """The inference response: JSON, or a JSON header followed by the binary outputs."""
    arrays = {PROBABILITIES: probabilities, PREDICTION: probabilities.argmax(axis=1)}
    outputs, blobs = [], []
    for name, binary in request.outputs.items():
        datatype, dtype = OUTPUT_TYPES[name]
        array = np.ascontiguousarray(arrays[name], dtype=dtype)
        output: dict[str, Any] = {"name": name, "datatype": datatype, "shape": list(array.shape)}
        if binary:
            blobs.append(array.tobytes())
            output["parameters"] = {"binary_data_size": len(blobs[-1])}
        else:
            output["data"] = array.ravel().tolist()
        outputs.append(output)
    document: dict[str, Any] = {"model_name": MODEL_NAME, "model_version": version, "outputs": outputs}
    if request.request_id is not None:
        document["id"] = request.request_id
    if not blobs:
        return Response(200, document)
    header = json.dumps(document, separators=(",", ":")).encode()
    return Response(
        200,
        header + b"".join(blobs),
        {"Content-Type": BINARY_MEDIA_TYPE, "Inference-Header-Content-Length": str(len(header))},
    )
