"""Load and soak: many concurrent requests over HTTP, and 100,000 in a row in one process.

- Load: mixed valid and invalid requests from 8 threads at once through `serverless offline` on
  loopback (the real CLI, the real handler process): every request answered, each with the status
  its kind should get, and not one 5xx.
- Soak: 100,000 requests straight through the handler (valid arrays and PNGs, and every kind of
  bad request), resident memory sampled as it goes: after warm-up it may not grow past a fixed
  bound, and every request logs exactly one line.
"""

from __future__ import annotations

import base64
import json
import logging
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from api import handler
from tests.support.api_support import LambdaContext, http_event, rest_event, rss_mb, serving, store_for
from tests.support.digit_images import mnist_png

LOAD_CONCURRENCY = 8
LOAD_REQUESTS = 480
SOAK_REQUESTS = 100_000
SOAK_WARMUP = 5_000
SOAK_SAMPLE_EVERY = 5_000
# Growth allowed after warm-up: allocator noise, not a leak (a leak of even 200 bytes a request
# would show as 19 MB over the run).
SOAK_RSS_GROWTH_LIMIT_MB = 16


def request_kinds(digits: list[np.ndarray]) -> dict[str, tuple[str, str, Any, str | None, int]]:
    """kind → (method, path, body, content type, expected status): valid and invalid, mixed."""
    array = digits[0].tolist()
    png = mnist_png(digits[1], np.random.default_rng(0))
    return {
        "array": ("POST", "/predict", json.dumps({"image": array}), "application/json", 200),
        "png-json": (
            "POST",
            "/predict",
            json.dumps({"image": base64.b64encode(png).decode()}),
            "application/json",
            200,
        ),
        "png-raw": ("POST", "/predict", png, "application/octet-stream", 200),
        "batch": (
            "POST",
            "/predict",
            json.dumps({"images": [d.tolist() for d in digits[:4]]}),
            "application/json",
            200,
        ),
        "model": ("GET", "/model", None, None, 200),
        "bad-json": ("POST", "/predict", "{nope", "application/json", 400),
        "wrong-shape": ("POST", "/predict", json.dumps({"image": [[0] * 27] * 28}), "application/json", 400),
        "deep": ("POST", "/predict", '{"image": ' + "[" * 50_000 + "]" * 50_000 + "}", "application/json", 400),
        "not-an-image": ("POST", "/predict", b"hello", "image/png", 415),
        "wrong-method": ("GET", "/predict", None, None, 405),
        "unknown-path": ("GET", "/admin", None, None, 404),
    }


@pytest.fixture(scope="module")
def digits(real_mnist) -> list[np.ndarray]:
    return [real_mnist.test_images[i] for i in range(8)]


def test_load_through_serverless_offline(offline_api, digits) -> None:
    kinds = request_kinds(digits)
    names = sorted(kinds)
    plan = [names[i % len(names)] for i in range(LOAD_REQUESTS)]

    def send(kind: str) -> tuple[str, int]:
        method, path, body, content_type, _ = kinds[kind]
        data = body.encode() if isinstance(body, str) else body
        status, _, _ = offline_api.raw_request(
            method, path, data, {"Content-Type": content_type} if content_type else None
        )
        return kind, status

    with ThreadPoolExecutor(LOAD_CONCURRENCY) as pool:
        results = list(pool.map(send, plan))
    assert len(results) == LOAD_REQUESTS  # every request answered
    wrong = Counter((kind, status) for kind, status in results if status != kinds[kind][4])
    assert not wrong, wrong
    assert not [status for _, status in results if status >= 500]


def soak_events(digits: list[np.ndarray]) -> list[tuple[dict[str, Any], int]]:
    """(event, expected status) for every kind, as HTTP API and REST API events."""
    events = []
    for method, path, body, content_type, status in request_kinds(digits).values():
        raw = body if isinstance(body, bytes) else None
        for build in (http_event, rest_event):
            if raw is not None:
                events.append((build(method, path, raw, content_type=content_type, base64_body=True), status))
            else:
                events.append((build(method, path, body, content_type=content_type), status))
    for digit in digits:  # more valid predictions than errors, as real traffic has
        events.append((http_event("POST", "/predict", {"image": digit.tolist()}), 200))
    return events


class _Count(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


def test_soak_100k_requests_in_process(mnist_export: Path, tmp_path: Path, digits) -> None:
    store = store_for(str(mnist_export), tmp_path)
    events = soak_events(digits)
    request_log = logging.getLogger("api.request")
    counter, propagate = _Count(), request_log.propagate
    # Counted, not kept: pytest's log capture would hold 100,000 records (its own memory growth).
    request_log.addHandler(counter)
    request_log.propagate = False
    samples: list[tuple[int, float]] = []
    statuses: Counter = Counter()
    try:
        with serving(store):
            for i in range(SOAK_REQUESTS):
                event, expected = events[i % len(events)]
                response = handler.get_number_prediction(event, LambdaContext())
                statuses[response["statusCode"]] += 1
                if response["statusCode"] != expected:
                    pytest.fail(
                        f"request {i}: {response['statusCode']} instead of {expected}: {response['body'][:300]}"
                    )
                if (i + 1) % SOAK_SAMPLE_EVERY == 0:
                    samples.append((i + 1, rss_mb()))
    finally:
        request_log.removeHandler(counter)
        request_log.propagate = propagate
    assert sum(statuses.values()) == SOAK_REQUESTS and counter.count == SOAK_REQUESTS
    assert not [s for s in statuses if s >= 500]
    warm = [rss for done, rss in samples if done >= SOAK_WARMUP]
    growth = max(warm) - warm[0]
    print(
        f"soak: {SOAK_REQUESTS} requests {dict(statuses)}; RSS after warm-up {warm[0]:.0f} MB, "
        f"max {max(warm):.0f} MB, growth {growth:.1f} MB"
    )
    assert growth < SOAK_RSS_GROWTH_LIMIT_MB, samples
