"""Running real TF.js (`@tensorflow/tfjs` in Node, pure JavaScript) from the tests: predicting with a
layers model (tests/tfjs/predict.mjs) and training one the way the original project did
(tests/tfjs/train.mjs), with raw float32 / uint8 files between Python and Node."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np

TFJS_SCRIPTS = Path(__file__).resolve().parents[1] / "tfjs"
REPO = TFJS_SCRIPTS.parents[1]
NODE_TIMEOUT = 240  # seconds for one Node run; the runs here take seconds to a minute
# float32 on both sides, different kernels: the outputs differ by rounding only (measured: < 1e-6).
PROBABILITY_TOLERANCE = 1e-4


def node(script: str, *args: str, timeout: float = NODE_TIMEOUT) -> dict[str, Any]:
    """Run `tests/tfjs/<script>` with Node; its last stdout line, parsed as JSON."""
    executable = shutil.which("node")
    assert executable, "node is not on PATH (scripts/setup.sh installs Node 20)"
    assert (REPO / "node_modules" / "@tensorflow" / "tfjs").is_dir(), "run `npm ci` first: @tensorflow/tfjs is missing"
    run = subprocess.run(
        [executable, str(TFJS_SCRIPTS / script), *args], cwd=REPO, capture_output=True, text=True, timeout=timeout
    )
    assert run.returncode == 0, f"{script} failed ({run.returncode}):\n{run.stderr[-3000:]}"
    return json.loads(run.stdout.strip().splitlines()[-1])


def tfjs_predict(jobs: list[tuple[Path, np.ndarray]], work: Path) -> list[np.ndarray | str]:
    """TF.js's outputs for each (model.json, float32 input) pair, or its error message for that model."""
    work.mkdir(parents=True, exist_ok=True)
    specs = []
    for i, (model, images) in enumerate(jobs):
        images = np.ascontiguousarray(images, dtype="<f4")
        images.tofile(work / f"input-{i}.f32")
        specs.append(
            {
                "model": str(model),
                "input": str(work / f"input-{i}.f32"),
                "shape": list(images.shape),
                "output": str(work / f"output-{i}.f32"),
            }
        )
    (work / "jobs.json").write_text(json.dumps(specs))
    summary = node("predict.mjs", str(work / "jobs.json"))
    results: list[np.ndarray | str] = []
    for spec, done in zip(specs, summary["jobs"]):
        if "error" in done:
            results.append(done["error"])
        else:
            results.append(np.fromfile(spec["output"], dtype="<f4").reshape(done["outputShape"]))
    return results


def tfjs_train(
    config: dict[str, Any], train_images: np.ndarray, train_labels: np.ndarray, test_images: np.ndarray, work: Path
) -> tuple[Path, np.ndarray, dict[str, Any]]:
    """Train `config` (layers, epochs, batchSize, validationSplit, as `config.json`) with TF.js on the uint8
    MNIST images given (tests/tfjs/train.mjs); the saved model's folder (`model.json` + `weights.bin`,
    written by TF.js's save handler), TF.js's probabilities for `test_images`, and the run's summary."""
    work.mkdir(parents=True, exist_ok=True)
    for file, array in (("train.u8", train_images), ("labels.u8", train_labels), ("test.u8", test_images)):
        np.ascontiguousarray(array, dtype=np.uint8).tofile(work / file)
    job = {
        "config": config,
        "train": str(work / "train.u8"),
        "labels": str(work / "labels.u8"),
        "count": len(train_images),
        "test": str(work / "test.u8"),
        "testCount": len(test_images),
        "out": str(work / "model"),
        "probabilities": str(work / "probabilities.f32"),
    }
    (work / "job.json").write_text(json.dumps(job))
    summary = node("train.mjs", str(work / "job.json"))
    probabilities = np.fromfile(work / "probabilities.f32", dtype="<f4").reshape(len(test_images), -1)
    return work / "model", probabilities, summary
