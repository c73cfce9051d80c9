"""A runtime whose library is missing says which library: `MODEL_RUNTIME=savedmodel` in a fresh process
without TensorFlow (as in the Lambda bundle) answers 503 naming it, with one log line."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]


# As in the Lambda bundle: no TensorFlow. The child sees this environment's packages (linked into a
# folder of its own) except TensorFlow's, the standard library and the repository's api/.
WITHOUT_TENSORFLOW = textwrap.dedent("""
    import json, logging, sys
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="LOG %(name)s %(message)s")
    sys.path[:0] = sys.argv[1:3]
    from api import handler
    event = {"image": [0] * 784}
    print(json.dumps(handler.get_number_prediction(event, None)))
""")


def test_a_runtime_whose_library_is_missing_says_so(tmp_path: Path) -> None:
    site = Path(np.__file__).resolve().parents[1]
    bundle = tmp_path / "site"
    bundle.mkdir()
    for entry in site.iterdir():
        if not entry.name.lower().startswith("tensorflow"):
            (bundle / entry.name).symlink_to(entry)
    env = {"MODEL_URL": str(tmp_path / "model"), "MODEL_RUNTIME": "savedmodel", "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", WITHOUT_TENSORFLOW, str(bundle), str(REPO)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    response = json.loads(result.stdout.strip().splitlines()[-1])
    message = json.loads(response["body"])["error"]["message"]
    assert response["statusCode"] == 503
    assert message == (
        "the API is misconfigured: MODEL_RUNTIME='savedmodel' cannot run: the savedmodel runtime "
        "needs TensorFlow, which is not installed here; use MODEL_RUNTIME=tflite"
    )
    logged = [line for line in result.stderr.splitlines() if line.startswith("LOG") and "api.request" not in line]
    assert logged == [f"LOG api.runtime.settings {message}"]  # besides the request's own line
    assert "Traceback" not in result.stderr
