"""Open Inference Protocol v2 tensors in a request body: JSON `data` or raw bytes after the JSON header.

With the binary tensor data extension, the `Inference-Header-Content-Length` header gives the JSON's
length and an input's `binary_data_size` parameter its byte count (what `tritonclient` sends by
default). Shared by both models the API serves over the protocol (`api.app.oip`, `api.app.oip_reader`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from api.app.http import REPLACEMENT
from api.errors import InvalidRequest

BINARY_MEDIA_TYPE = "application/octet-stream"


def split_body(body: bytes, header_length: str | None) -> tuple[bytes, bytes]:
    """The JSON header and the binary data after it."""
    if header_length is None:
        return body, b""
    value = header_length.strip()
    if not value.isdigit() or not 0 < int(value) <= len(body):
        raise InvalidRequest(
            f"Inference-Header-Content-Length must be a whole number from 1 to the "
            f"body's length ({len(body)}), not '{header_length}'"
        )
    return body[: int(value)], body[int(value) :]


def parameters(item: Mapping[str, Any], where: str) -> dict[str, Any]:
    parameters = item.get("parameters", {})
    if not isinstance(parameters, dict):
        raise InvalidRequest(f'{where}: "parameters" must be an object')
    return parameters


def json_values(name: str, data: Any, dtype: np.dtype, expected: int) -> np.ndarray:
    if not isinstance(data, list):
        raise InvalidRequest(
            f"input '{name}': needs \"data\" (a list of numbers) or binary data (the binary_data_size parameter)"
        )
    try:
        values = np.asarray(data)
    except (ValueError, TypeError, OverflowError):  # rows of unequal length, too deep, too large
        values = np.asarray(None)
    if values.dtype.kind not in "iuf":  # strings, booleans, nulls, ragged rows
        raise InvalidRequest(f"input '{name}': data must be numbers, flat or nested in equal rows")
    values = values.astype(np.float64).ravel()
    if values.size != expected:
        raise InvalidRequest(f"input '{name}': data has {values.size} values; its shape needs {expected}")
    if dtype == np.uint8 and not (np.all(values == np.round(values)) and values.min() >= 0 and values.max() <= 255):
        raise InvalidRequest(f"input '{name}': UINT8 data must be whole numbers from 0 to 255")
    return values


def binary_values(
    name: str, tensor: Mapping[str, Any], size: Any, binary: bytes, dtype: np.dtype, expected: int
) -> np.ndarray:
    if "data" in tensor:
        raise InvalidRequest(f"input '{name}': give either \"data\" or binary_data_size, not both")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise InvalidRequest(f"input '{name}': binary_data_size must be a whole number of bytes")
    if size != expected * dtype.itemsize:
        raise InvalidRequest(
            f"input '{name}': binary_data_size is {size} bytes; its shape and datatype need {expected * dtype.itemsize}"
        )
    if size > len(binary):
        raise InvalidRequest(
            f"input '{name}': binary_data_size is {size} bytes, but only {len(binary)} "
            f"follow the JSON header{mangled_hint(binary)}"
        )
    return np.frombuffer(binary, dtype=dtype, count=expected)


def mangled_hint(binary: bytes) -> str:
    """Why binary data may have the wrong length: a proxy that read it as UTF-8 text."""
    if REPLACEMENT in binary:
        return (
            " (the binary data looks decoded as UTF-8 text on its way here; through `serverless "
            f"offline`, send it with Content-Type: {BINARY_MEDIA_TYPE})"
        )
    return ""
