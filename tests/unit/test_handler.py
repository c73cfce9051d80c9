"""The `getNumberPrediction` handler's answers when the model cannot serve, in-process and without one:
an unavailable model is a 503 with Retry-After, anything unplanned a bare 500 that is logged.

Every route, input form and error path with the real small MNIST export: tests/slow/test_handler.py;
what importing the handler loads: tests/integration/test_handler.py.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from api.errors import ModelUnavailable
from api.runtime.manifest import TFLITE
from api.runtime.model_store import ModelStore
from api.runtime.settings import Settings
from tests.support.api_support import http_event, serving, store_for
from tests.support.handler_support import DIGIT, call
from tests.support.loopback import free_port


@pytest.mark.parametrize("route", [("POST", "/predict"), ("GET", "/model")])
def test_an_unavailable_model_answers_503_with_retry_after(tmp_path: Path, route: tuple[str, str]) -> None:
    with serving(store_for(f"http://127.0.0.1:{free_port()}/latest/model.json", tmp_path)):
        status, headers, body = call(http_event(*route, body={"image": DIGIT} if route[0] == "POST" else None))
    assert status == 503 and headers["Retry-After"] == "5"
    assert body["error"]["code"] == "model_unavailable" and "cannot connect" in body["error"]["message"]


class _BrokenStore(ModelStore):
    """A store whose model raises what no one planned for (the only way to reach the 500 path)."""

    def model(self):  # type: ignore[override]
        raise RuntimeError("secret detail at /var/task/api/runtime/model_store.py line 42")


def test_an_unexpected_error_is_a_bare_500_and_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with serving(_BrokenStore(Settings("x", TFLITE, tmp_path, 1))):
        with caplog.at_level(logging.ERROR, logger="api.app.http"):
            status, _, body = call(http_event(body={"image": DIGIT}))
    assert status == 500 and body == {
        "error": {"code": "internal_error", "message": "internal error; it has been logged"}
    }
    assert "secret detail" in caplog.text  # the log keeps what the response must not show


def test_model_unavailable_carries_retry_after() -> None:
    assert ModelUnavailable("x", retry_after=0).headers == {"Retry-After": "1"}
