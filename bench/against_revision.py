"""The API of this tree beside the API at a git revision, in one run: cold starts and warm requests.

    python bench/against_revision.py --export EXPORT --revision 8c9eb5a [--cold-runs 15] [--rounds 6]

For a change that should not move speed (a refactor, a move): the revision's `api/` (from `git
archive`) and this tree's each run alone in fresh processes, as the Lambda bundle runs it: only
`api/` and the installed packages on the path, no TensorFlow imported (LiteRT serves), the model
read from the export's folder. The two take turns, so a busy machine slows both alike.

- Cold: a fresh interpreter imports `api.handler` and answers test.json; import and first-request
  times, medians of `--cold-runs`.
- Warm: a worker process per tree and round answers each request kind `--requests` times after a
  warm-up (test.json's 28x28 array, a 280x280 canvas PNG of a digit, the same PNG read as a
  number); medians per kind, then the median over rounds.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EVENT = json.loads((REPO / "test.json").read_text(encoding="utf-8"))

COLD = """
import json, sys, time
started = time.perf_counter()
import api.handler
imported = time.perf_counter()
response = api.handler.get_number_prediction(json.loads(sys.argv[1]), None)
answered = time.perf_counter()
assert response["statusCode"] == 200, response
assert "tensorflow" not in sys.modules
print(json.dumps({"import": imported - started, "first": answered - imported}))
"""

WARM = """
import json, statistics, sys, time
import api.handler
events = json.loads(sys.argv[1])
count = int(sys.argv[2])
out = {}
for name, event in events.items():
    for _ in range(20):
        assert api.handler.get_number_prediction(event, None)["statusCode"] == 200
    times = []
    for _ in range(count):
        started = time.perf_counter()
        api.handler.get_number_prediction(event, None)
        times.append(time.perf_counter() - started)
    out[name] = statistics.median(times)
print(json.dumps(out))
"""


def canvas_png() -> bytes:
    """A 280x280 canvas PNG of test.json's digit: black ink on white, enlarged as a pen would draw it."""
    import io

    import numpy as np
    from PIL import Image

    digit = np.asarray(json.loads(EVENT["body"])["image"], dtype=np.uint8)
    big = Image.fromarray(255 - digit).resize((280, 280), Image.Resampling.BICUBIC)
    buffer = io.BytesIO()
    big.save(buffer, "PNG")
    return buffer.getvalue()


def events() -> dict[str, dict]:
    png = "data:image/png;base64," + base64.b64encode(canvas_png()).decode()
    digit = {**EVENT, "body": json.dumps({"image": png})}
    number = {**EVENT, "body": json.dumps({"image": png, "read": "number"})}
    return {"test.json": EVENT, "canvas PNG digit": digit, "canvas PNG as a number": number}


def api_at(revision: str, folder: Path) -> Path:
    """A folder holding only `api/` as it was at `revision`."""
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", "--format=tar", revision, "api"], capture_output=True, check=True
    ).stdout
    import io

    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
    return folder


def api_here(folder: Path) -> Path:
    archive = subprocess.run(["tar", "-C", str(REPO), "-cf", "-", "--exclude=__pycache__", "api"], capture_output=True)
    import io

    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(folder, filter="data")
    return folder


def run(code: str, path: Path, export: Path, cache: Path, *args: str) -> dict:
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MODEL_URL")},
        "PYTHONPATH": str(path),
        "MODEL_URL": str(export),
        "MODEL_CACHE_DIR": str(cache),
        "MODEL_RUNTIME": "tflite",
    }
    out = subprocess.run([sys.executable, "-c", code, *args], env=env, cwd=path, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{path}: {out.stderr.strip().splitlines()[-1] if out.stderr.strip() else out.returncode}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--export", type=Path, required=True, help="a trained export folder")
    parser.add_argument("--revision", required=True, help="the git revision to compare with")
    parser.add_argument("--cold-runs", type=int, default=15)
    parser.add_argument("--rounds", type=int, default=6, help="warm worker processes per tree")
    parser.add_argument("--requests", type=int, default=300, help="timed requests per kind and worker")
    args = parser.parse_args()
    if not (args.export / "model.json").is_file():
        print(f"error: {args.export} is not an export folder", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        trees = {args.revision: api_at(args.revision, work / "then"), "this tree": api_here(work / "now")}
        caches = {name: work / f"cache-{i}" for i, name in enumerate(trees)}
        for name, path in trees.items():  # bytecode compiled and the artifact cached, outside the timing
            run(COLD, path, args.export, caches[name], json.dumps(EVENT))
        cold: dict[str, list[dict]] = {name: [] for name in trees}
        for _ in range(args.cold_runs):
            for name, path in trees.items():
                cold[name].append(run(COLD, path, args.export, caches[name], json.dumps(EVENT)))
        warm: dict[str, list[dict]] = {name: [] for name in trees}
        bodies = json.dumps(events())
        for _ in range(args.rounds):
            for name, path in trees.items():
                warm[name].append(run(WARM, path, args.export, caches[name], bodies, str(args.requests)))
    names = list(trees)
    print(f"| {sys.implementation.name} {sys.version.split()[0]}, medians | {names[0]} | {names[1]} | ratio |")
    print("| --- | ---: | ---: | ---: |")
    for key, label in (("import", "cold: import api.handler (ms)"), ("first", "cold: first request (ms)")):
        then, now = (statistics.median(run[key] for run in cold[name]) * 1000 for name in names)
        print(f"| {label} | {then:.1f} | {now:.1f} | {now / then:.2f} |")
    for kind in events():
        then, now = (statistics.median(run[kind] for run in warm[name]) * 1000 for name in names)
        print(f"| warm: {kind} (ms) | {then:.3f} | {now:.3f} | {now / then:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
