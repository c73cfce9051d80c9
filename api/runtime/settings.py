"""What the API reads from its environment, and the limits it enforces.

Read once, when the first request needs them (never at import), into one frozen object. A value
that cannot be used is refused there, naming its variable, and the API answers 503 until it is fixed
(a typo in MODEL_THREADS must not quietly serve on one thread).
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from api.errors import ModelUnavailable
from api.runtime.manifest import AUTO, PRECISIONS, RUNTIMES
from api.runtime.predictor import RuntimeUnavailable, choose_runtime, installed

log = logging.getLogger(__name__)

# Lambda's synchronous invocation payload is 6 MB (API Gateway's HTTP API allows 10 MB, so Lambda
# is the binding limit); a body over this is refused before it is decoded.
MAX_BODY_BYTES = 6 * 1024 * 1024
# Images per request (`images`, `instances`), run as one forward pass; MAX_BATCH_IMAGES may lower
# or raise it (up to HARD_MAX_BATCH). 256 arrays are ~0.5 MB of JSON, far below the body limit;
# 256 canvas images stay within the request's pixel budget below.
MAX_BATCH = 256
HARD_MAX_BATCH = 4096
# Lambda grants CPU in proportion to memory: one vCPU's worth per 1,769 MB, six at most.
LAMBDA_MB_PER_VCPU = 1769
LAMBDA_MAX_VCPUS = 6
# Pixels of one decoded image: a few-KB PNG can claim gigapixels (a decompression bomb), so the
# header's size is checked before any pixel is decoded. 4096x4096 covers any phone photo.
MAX_IMAGE_PIXELS = 4096 * 4096
# Pixels of all the decoded images of one request together.
MAX_REQUEST_PIXELS = 4 * MAX_IMAGE_PIXELS
# After a failed model load, requests are answered 503 at once for this many seconds, then the
# next request tries again.
RETRY_AFTER_SECONDS = 5
# A model source that does not answer (connect, or a read that gets no bytes) for this long is
# given up on: the request gets a 503 instead of waiting for the function's own 15 s timeout.
FETCH_TIMEOUT_SECONDS = 3.0
# The whole load (model.json and the model file) may take this long; a source that trickles bytes
# is cut off here. With one read still pending the worst case is LOAD + FETCH = 13 s, under the
# function's 15 s timeout (serverless.yml), so a slow source ends in a 503, never a Lambda timeout.
LOAD_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class Settings:
    """The API's configuration (environment variables in brackets)."""

    model_url: str  # where model.json is [MODEL_URL]
    runtime: str  # "tflite" or "savedmodel"; unset: LiteRT when installed, else TensorFlow [MODEL_RUNTIME]
    cache_dir: Path  # verified artifacts, one file per sha256 [MODEL_CACHE_DIR]
    threads: int  # LiteRT interpreter threads [MODEL_THREADS]
    precision: str = AUTO  # which .tflite variant: float32, float16, int8 or auto [MODEL_PRECISION]
    max_batch: int = MAX_BATCH  # images per request [MAX_BATCH_IMAGES]
    retry_after: int = RETRY_AFTER_SECONDS
    fetch_timeout: float = FETCH_TIMEOUT_SECONDS
    load_timeout: float = LOAD_TIMEOUT_SECONDS

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """The settings of `environ` (default: the process's); raises ModelUnavailable for a bad value."""
        env = os.environ if environ is None else environ
        precision = env.get("MODEL_PRECISION", "").strip().lower() or AUTO
        if precision not in (*PRECISIONS, AUTO):
            _refuse("MODEL_PRECISION", env["MODEL_PRECISION"], f"one of {', '.join((*PRECISIONS, AUTO))}")
        return cls(
            model_url=env.get("MODEL_URL", "").strip(),
            runtime=_runtime(env),
            # /tmp is the only writable place in Lambda; it lives as long as the container.
            cache_dir=Path(env.get("MODEL_CACHE_DIR") or Path(tempfile.gettempdir()) / "number-prediction"),
            threads=_count(env, "MODEL_THREADS", 1024) or default_threads(env),
            precision=precision,
            max_batch=_count(env, "MAX_BATCH_IMAGES", HARD_MAX_BATCH) or MAX_BATCH,
        )


def default_threads(env: Mapping[str, str]) -> int:
    """On Lambda, the vCPUs its memory size buys (rounded up); elsewhere the CPUs this process may use."""
    memory = _count(env, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", 1 << 20)
    if memory:
        return min(LAMBDA_MAX_VCPUS, -(-memory // LAMBDA_MB_PER_VCPU))
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _runtime(env: Mapping[str, str]) -> str:
    """MODEL_RUNTIME, or the automatic choice; refused when unknown or when its library is not installed
    (MODEL_RUNTIME=savedmodel in the Lambda bundle, which carries no TensorFlow)."""
    text = env.get("MODEL_RUNTIME", "").strip().lower()
    if text and text not in RUNTIMES:
        _refuse("MODEL_RUNTIME", env["MODEL_RUNTIME"], " or ".join(RUNTIMES))
    runtime = choose_runtime(text)
    if not installed(runtime):
        advice = "".join(f"; use MODEL_RUNTIME={other}" for other in RUNTIMES if other != runtime and installed(other))
        _misconfigured(f"MODEL_RUNTIME={runtime!r} cannot run: {RuntimeUnavailable(runtime)}{advice}")
    return runtime


def _count(env: Mapping[str, str], name: str, most: int) -> int | None:
    """The positive whole number in `name` (at most `most`), None when unset; refuses anything else."""
    text = env.get(name, "").strip()
    if not text:
        return None
    if not text.isdecimal() or not 1 <= int(text) <= most:
        _refuse(name, text, f"a whole number from 1 to {most}")
    return int(text)


def _refuse(name: str, value: str, expected: str) -> NoReturn:
    _misconfigured(f"{name}={value!r} is not valid; use {expected}")


def _misconfigured(problem: str) -> NoReturn:
    """One log line, and the 503 every request gets until the setting is fixed."""
    message = f"the API is misconfigured: {problem}"
    log.error("%s", message)
    raise ModelUnavailable(message, retry_after=RETRY_AFTER_SECONDS)
