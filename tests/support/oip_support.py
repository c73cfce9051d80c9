"""For the Open Inference Protocol tests: request bodies as tritonclient builds them, the handler called
on a v2 path, and the OpenAPI document the API serves (api/app/openapi.json)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from api import handler
from tests.support.api_support import LambdaContext, http_event

REPO = Path(__file__).resolve().parents[2]
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
GOOD = {"name": "image", "shape": [1, 784], "datatype": "UINT8", "data": [0] * 784}


def tensor_request(
    pixels: np.ndarray, datatype: str, shape: tuple[int, ...], binary: bool, **extra: Any
) -> tuple[bytes, str | None]:
    """A body (and its Inference-Header-Content-Length) as tritonclient builds one."""
    values = pixels.astype(np.float32) / 255 if datatype == "FP32" else pixels
    values = values.astype("<f4" if datatype == "FP32" else "u1").reshape(len(pixels), *shape)
    tensor: dict[str, Any] = {"name": "image", "shape": list(values.shape), "datatype": datatype}
    if binary:
        tensor["parameters"] = {"binary_data_size": values.nbytes}
    else:
        tensor["data"] = values.tolist()
    header = json.dumps({"inputs": [tensor], **extra}).encode()
    return (header + values.tobytes(), str(len(header))) if binary else (header, None)


def call(
    method: str, path: str, body: Any = None, headers: dict[str, str] | None = None, **kwargs: Any
) -> tuple[int, dict[str, str], Any]:
    event = http_event(method, path, body, **kwargs)
    event["headers"].update(headers or {})
    response = handler.get_number_prediction(event, LambdaContext())
    body = response["body"]
    return response["statusCode"], response["headers"], json.loads(body) if body else None


def openapi_document() -> dict[str, Any]:
    return json.loads((REPO / "api" / "app" / "openapi.json").read_text(encoding="utf-8"))
