"""Helpers for the API tests: events as API Gateway and Lambda send them, model stores, and a hand-moved clock."""

from __future__ import annotations

import base64
import contextlib
import json
import re
import resource
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from api import handler
from api.runtime.manifest import FLOAT32
from api.runtime.model_store import ModelStore
from api.runtime.predictor import choose_runtime
from api.runtime.settings import Settings

# What LiteRT and TensorFlow write from C++, which must stay off a user's screen: absl-style
# "I0000 00:00:..." lines, absl's and oneDNN's notices, LiteRT's "Created TensorFlow Lite XNNPACK delegate",
# the TFLite converter's "fully_quantize: 0, inference_type: ..." line.
NATIVE_NOISE = re.compile(r"^[IWE]\d{4} |XNNPACK|oneDNN|absl::|fully_quantize", re.MULTILINE)


class Clock:
    """A clock the test moves by hand (a store's retry window is measured with it)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def store_for(
    model_url: str, cache_dir: Path, runtime: str | None = None, clock: Clock | None = None, **settings: Any
) -> ModelStore:
    """A model store on `model_url` with one LiteRT thread; `runtime` None picks as the API does.

    It serves the float32 model unless `precision` says otherwise: what MODEL_PRECISION=auto picks
    depends on the export's own timing of its variants on this machine (int8 where it is faster by
    SPEED_MARGIN), and the tests' expectations (probabilities, the files fetched) are the float model's.
    """
    settings.setdefault("precision", FLOAT32)
    settled = Settings(model_url=model_url, runtime=choose_runtime(runtime), cache_dir=cache_dir, threads=1, **settings)
    return ModelStore(settled) if clock is None else ModelStore(settled, clock=clock)


@contextlib.contextmanager
def serving(store: ModelStore | None) -> Iterator[ModelStore | None]:
    """The handler answers from `store` for the block (None: from the environment, as on Lambda)."""
    handler.use_model_store(store)
    try:
        yield store
    finally:
        handler.use_model_store(None)


def leftovers(cache: Path) -> list[str]:
    """Hidden files in a model cache: what a half-written download or unpacking would leave."""
    return sorted(p.name for p in cache.glob(".*")) if cache.exists() else []


def rss_mb() -> float:
    """This process's resident memory in MB (Linux)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 2**20


def png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width x height (a decompression bomb's calling card)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")

    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 0, 0, 0, 0])
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    )


def http_event(
    method: str = "POST",
    path: str = "/predict",
    body: Any = None,
    *,
    content_type: str | None = "application/json",
    base64_body: bool = False,
    stage: str = "$default",
) -> dict[str, Any]:
    """An API Gateway HTTP API (payload 2.0) event; `body` is sent as JSON unless bytes or str."""
    raw = _raw_body(body)
    headers = {"content-type": content_type} if content_type else {}
    raw_path = path if stage == "$default" else f"/{stage}{path}"
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": raw_path,
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {"http": {"method": method, "path": raw_path}, "requestId": "api-req", "stage": stage},
        "body": _encode(raw, base64_body),
        "isBase64Encoded": base64_body,
    }


def rest_event(
    method: str = "POST",
    path: str = "/predict",
    body: Any = None,
    *,
    content_type: str | None = "application/json",
    base64_body: bool = False,
) -> dict[str, Any]:
    """An API Gateway REST API (payload 1.0) event, headers in their usual mixed case."""
    raw = _raw_body(body)
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": {"Content-Type": content_type} if content_type else None,
        "requestContext": {"requestId": "rest-req", "stage": "prod", "path": f"/prod{path}"},
        "body": _encode(raw, base64_body),
        "isBase64Encoded": base64_body,
    }


def _raw_body(body: Any) -> bytes | None:
    if body is None:
        return None
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode()
    return json.dumps(body).encode()


def _encode(raw: bytes | None, as_base64: bool) -> str | None:
    if raw is None:
        return None
    return base64.b64encode(raw).decode() if as_base64 else raw.decode("utf-8")


class LambdaContext:
    """The attributes of Lambda's context object the handler reads."""

    aws_request_id = "lambda-req-1"
    function_name = "number-prediction-development-getNumberPrediction"
    memory_limit_in_mb = 1024

    def get_remaining_time_in_millis(self) -> int:
        return 15_000
