"""The number reader as the Open Inference Protocol's second model, `number-reader`: a line in, its steps out.

Routes as for `number-prediction` (`api.app.oip`): `GET /v2/models/number-reader[/versions/{version}]`,
`.../ready`, `POST .../infer`, present when the served export has a reader (else 404). Its one input,
`line`, is FP32 `[1, 32, W, 1]` in [0, 1] (ink light on dark, W from 1 to the widest line the API
reads; `api.pictures.line.to_line` makes such lines from pictures), as JSON `data` or binary data;
its one output, `steps`, is FP32 `[1, S, 11]`: for each step of 4 columns, the probabilities of the
ten digits and of the blank (CTC; greedy decoding takes the most likely class per step, merges
repeats and drops blanks). The version is the export's.
"""

from __future__ import annotations

import json
import math
from typing import Any
from urllib.parse import unquote

import numpy as np

from api.app.http import Request, Response, json_object
from api.app.tensors import BINARY_MEDIA_TYPE, binary_values, json_values, mangled_hint, parameters, split_body
from api.errors import InvalidRequest, NotFound
from api.runtime.manifest import (
    READER,
    READER_CLASSES,
    READER_HEIGHT,
    READER_INPUT,
    READER_MAX_WIDTH,
    READER_MODEL_NAME,
)
from api.runtime.model_store import ModelStore

STEPS = "steps"
MAX_WIDTH = READER_MAX_WIDTH  # the widest line `api.pictures.line` ever makes
HEADER_LENGTH = "inference-header-content-length"


def has_reader(store: ModelStore) -> bool:
    return READER in store.manifest().artifacts


def version(request: Request, store: ModelStore) -> str:
    """The served export's version, if the path names it (or none); NotFound otherwise, or without a reader."""
    if not has_reader(store):
        raise NotFound(f"this model has no number reader, so no model '{READER_MODEL_NAME}'")
    served = store.manifest().version
    asked = request.params.get("version")
    if asked is not None and unquote(asked) != served:
        raise NotFound(f"model '{READER_MODEL_NAME}' has no version '{unquote(asked)}'; it has '{served}'")
    return served


def metadata(request: Request, store: ModelStore) -> Response:
    return Response(
        200,
        {
            "name": READER_MODEL_NAME,
            "versions": [version(request, store)],
            "platform": "litert_tflite",
            "inputs": [{"name": READER_INPUT, "datatype": "FP32", "shape": [1, READER_HEIGHT, -1, 1]}],
            "outputs": [{"name": STEPS, "datatype": "FP32", "shape": [1, -1, READER_CLASSES]}],
        },
    )


def ready(request: Request, store: ModelStore) -> Response:
    version(request, store)
    store.reader()
    return Response(200, {"name": READER_MODEL_NAME, "ready": True})


def infer(request: Request, store: ModelStore) -> Response:
    line, binary_out, request_id = parse(request.body, request.headers.get(HEADER_LENGTH))
    served = version(request, store)
    steps = store.reader().run(line)[np.newaxis]
    document: dict[str, Any] = {"model_name": READER_MODEL_NAME, "model_version": served}
    if request_id is not None:
        document["id"] = request_id
    output: dict[str, Any] = {"name": STEPS, "datatype": "FP32", "shape": list(steps.shape)}
    if not binary_out:
        document["outputs"] = [{**output, "data": steps.ravel().tolist()}]
        return Response(200, document)
    blob = np.ascontiguousarray(steps, dtype="<f4").tobytes()
    document["outputs"] = [{**output, "parameters": {"binary_data_size": len(blob)}}]
    header = json.dumps(document, separators=(",", ":")).encode()
    headers = {"Content-Type": BINARY_MEDIA_TYPE, "Inference-Header-Content-Length": str(len(header))}
    return Response(200, header + blob, headers)


def parse(body: bytes, header_length: str | None) -> tuple[np.ndarray, bool, str | None]:
    """The line [32, W], whether the output goes as binary data, and the request's id; 400 otherwise."""
    header, binary = split_body(body, header_length)
    document = json_object(header, '{"inputs": [{"name": "line", "shape": [1, 32, W, 1], "datatype": "FP32"}]}')
    inputs = document.get("inputs")
    if not isinstance(inputs, list) or len(inputs) != 1 or not isinstance(inputs[0], dict):
        raise InvalidRequest(f'"inputs" must be a list of one tensor (the model\'s input "{READER_INPUT}")')
    tensor = inputs[0]
    name = tensor.get("name")
    if not isinstance(name, str):
        raise InvalidRequest('an input needs a "name" (a string)')
    if tensor.get("datatype") != "FP32":
        raise InvalidRequest(f"input '{name}': datatype must be FP32 (0 to 1), not {tensor.get('datatype')!r}")
    shape = tensor.get("shape")
    if (
        not isinstance(shape, list)
        or len(shape) != 4
        or not all(isinstance(d, int) and not isinstance(d, bool) for d in shape)
        or shape[:2] != [1, READER_HEIGHT]
        or shape[3] != 1
        or not 1 <= shape[2] <= MAX_WIDTH
    ):
        raise InvalidRequest(
            f"input '{name}': shape must be [1, {READER_HEIGHT}, W, 1] with W from 1 to {MAX_WIDTH}, not {shape!r}"
        )
    count = READER_HEIGHT * shape[2]
    size = parameters(tensor, f"input '{name}'").get("binary_data_size")
    dtype = np.dtype("<f4")
    if size is None:
        values, used = json_values(name, tensor.get("data"), dtype, count), 0
    else:
        values, used = binary_values(name, tensor, size, binary, dtype, count), size
    if used != len(binary):
        raise InvalidRequest(
            f"the body has {len(binary)} bytes after the JSON header, but binary_data_size says {used}"
            f"{mangled_hint(binary)}"
        )
    low, high = float(values.min()), float(values.max())
    if not (math.isfinite(low) and math.isfinite(high)) or low < 0 or high > 1:
        raise InvalidRequest(f"input '{name}': values must be from 0 to 1")
    binary_out = parameters(document, "the request").get("binary_data_output", False)
    if not isinstance(binary_out, bool):
        raise InvalidRequest("binary_data_output must be true or false")
    request_id = document.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise InvalidRequest('"id" must be a string')
    return values.astype(np.float32).reshape(READER_HEIGHT, shape[2]), binary_out, request_id
