"""The API's settings: each read once from the environment, in `api.runtime.settings`, and a bad one refused there.

A value that cannot be used is not replaced by a default: every request is answered 503
`model_unavailable` (through the handler's one error path), the message naming the variable and
what it accepts, with one log line. A runtime whose library is missing says which library:
tests/integration/test_settings.py.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import pytest

from api import handler
from api.errors import ModelUnavailable
from api.runtime.manifest import SAVEDMODEL, TFLITE
from api.runtime.settings import MAX_BATCH, Settings, default_threads
from tests.support.api_support import http_event, serving


def predict_from_environment() -> dict[str, Any]:
    """One /predict answered by a store built from the process's environment, as on a cold Lambda."""
    with serving(None):
        response = handler.get_number_prediction(http_event(body={"image": [0] * 784}), None)
    return {**response, "body": json.loads(response["body"])}


@pytest.mark.parametrize(
    "name, value",
    [
        ("MODEL_PRECISION", "int4"),
        ("MODEL_THREADS", "0"),
        ("MODEL_THREADS", "two"),
        ("MODEL_THREADS", "-1"),
        ("MODEL_THREADS", "1.5"),
        ("MAX_BATCH_IMAGES", "0"),
        ("MAX_BATCH_IMAGES", "100000"),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "lots"),
        ("MODEL_RUNTIME", "onnx"),
        ("MODEL_RUNTIME", "tf-lite"),
    ],
)
def test_a_bad_setting_is_a_503_naming_the_variable(
    name: str, value: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(ModelUnavailable, match=f"{name}='{value}' is not valid"):
        Settings.from_env({"MODEL_URL": "x", name: value})
    # Through the handler: a JSON 503, not a stack trace and not a silent default; one log line says why.
    monkeypatch.setenv("MODEL_URL", str(tmp_path))
    monkeypatch.setenv(name, value)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="api"):
        response = predict_from_environment()
    body = response["body"]
    assert response["statusCode"] == 503 and body["error"]["code"] == "model_unavailable"
    assert name in body["error"]["message"] and "Retry-After" in response["headers"]
    lines = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(lines) == 1 and not lines[0].exc_info and name in lines[0].getMessage()


def test_a_bad_runtime_says_which_ones_there_are() -> None:
    with pytest.raises(ModelUnavailable) as refused:
        Settings.from_env({"MODEL_RUNTIME": "onnx"})
    assert refused.value.message == (
        "the API is misconfigured: MODEL_RUNTIME='onnx' is not valid; use tflite or savedmodel"
    )


@pytest.mark.parametrize(
    "value, runtime", [("savedmodel", SAVEDMODEL), (" SavedModel ", SAVEDMODEL), ("tflite", TFLITE), ("", TFLITE)]
)
def test_model_runtime_is_read_by_settings(value: str, runtime: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # The process's environment says otherwise: only the mapping given to Settings may count.
    monkeypatch.setenv("MODEL_RUNTIME", TFLITE if runtime == SAVEDMODEL else SAVEDMODEL)
    assert Settings.from_env({"MODEL_RUNTIME": value}).runtime == runtime


@pytest.mark.parametrize(
    "memory, threads", [("128", 1), ("1024", 1), ("1769", 1), ("1770", 2), ("3008", 2), ("5308", 4), ("10240", 6)]
)
def test_threads_follow_the_lambda_memory_size(memory: str, threads: int) -> None:
    assert default_threads({"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": memory}) == threads
    assert Settings.from_env({"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": memory}).threads == threads
    assert Settings.from_env({"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": memory, "MODEL_THREADS": "3"}).threads == 3


def test_elsewhere_threads_are_the_usable_cores() -> None:
    assert Settings.from_env({}).threads == len(os.sched_getaffinity(0))
    assert Settings.from_env({}).precision == "auto" and Settings.from_env({}).max_batch == MAX_BATCH == 256
    assert Settings.from_env({"MODEL_PRECISION": " INT8 ", "MAX_BATCH_IMAGES": "32"}).precision == "int8"
