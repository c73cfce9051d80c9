"""What the API reads from its environment, and the limits it enforces.

Read once, when the first request needs them (never at import), into one frozen object.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

# Lambda's synchronous invocation payload is 6 MB (API Gateway's HTTP API allows 10 MB, so Lambda
# is the binding limit); a body over this is refused before it is decoded.
MAX_BODY_BYTES = 6 * 1024 * 1024
# Images per request (`images`, `instances`).
MAX_BATCH = 64
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
    runtime: str | None  # "tflite", "savedmodel" or None for automatic [MODEL_RUNTIME]
    cache_dir: Path  # verified artifacts, one file per sha256 [MODEL_CACHE_DIR]
    threads: int | None  # LiteRT interpreter threads [MODEL_THREADS]
    retry_after: int = RETRY_AFTER_SECONDS
    fetch_timeout: float = FETCH_TIMEOUT_SECONDS
    load_timeout: float = LOAD_TIMEOUT_SECONDS

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if environ is None else environ
        threads = env.get("MODEL_THREADS", "").strip()
        return cls(
            model_url=env.get("MODEL_URL", "").strip(),
            runtime=env.get("MODEL_RUNTIME", "").strip().lower() or None,
            # /tmp is the only writable place in Lambda; it lives as long as the container.
            cache_dir=Path(env.get("MODEL_CACHE_DIR") or Path(tempfile.gettempdir()) / "number-prediction"),
            threads=int(threads) if threads.isdigit() and int(threads) > 0 else 1,
        )
