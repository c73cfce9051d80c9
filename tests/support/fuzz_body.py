"""Coverage-guided fuzz target (atheris / libFuzzer) for the request body parser.

    python tests/support/fuzz_body.py -runs=20000 -max_total_time=60 [corpus folder]

Each input picks a Content-Type and is the body of a `POST /predict`; `api.app.inputs.read_inputs`
must either read it or raise one of the API's own errors (a 4xx). Anything else — an exception
of another type, a crash, a hang past libFuzzer's timeout — is a finding, and libFuzzer exits
non-zero with the input that caused it. `tests/slow/test_fuzz.py` runs it for a bounded number of inputs.
"""

from __future__ import annotations

import sys

import atheris
import numpy  # noqa: F401 - imported (uninstrumented) first: only the API's own code is instrumented
from PIL import Image  # noqa: F401 - imported before atheris instruments, as the handler would have it

with atheris.instrument_imports():
    from api.app.http import Request
    from api.app.inputs import read_inputs
    from api.errors import ApiError

MEDIA_TYPES = [
    "application/json",
    "text/plain",
    "",
    "image/png",
    "image/jpeg",
    "application/octet-stream",
    "image/gif",
    "image/webp",
    "application/x-www-form-urlencoded",
    "application/vnd.x+json",
]


def test_one_input(data: bytes) -> None:
    provider = atheris.FuzzedDataProvider(data)
    media_type = provider.PickValueInList(MEDIA_TYPES)
    body = provider.ConsumeBytes(provider.remaining_bytes())
    try:
        inputs = read_inputs(Request("POST", "/predict", {"content-type": media_type}, body))
    except ApiError as exc:
        if not 400 <= exc.status < 500:
            raise AssertionError(f"a body answered {exc.status}") from exc
        return
    if inputs.batch.ndim != 4 or inputs.batch.shape[1:] != (28, 28, 1):
        raise AssertionError(f"a batch of shape {inputs.batch.shape}")


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
