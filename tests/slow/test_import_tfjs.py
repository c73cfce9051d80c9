"""`python -m ml_model import-tfjs` (ml_model.import_tfjs), proven with a model written by TF.js itself:
a network trained in Node with `@tensorflow/tfjs` the way the original project's trainer does
(tests/tfjs/train.mjs), saved through a TF.js save handler, imported from a folder, over HTTP and
from S3, and served by the API with TF.js's own answers. What the importer refuses, and the 503 a
MODEL_URL at a TF.js model gets: tests/unit/test_import_tfjs.py."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from api.runtime.manifest import FLOAT32, TFJS_MODEL, TFLITE
from ml_model import import_tfjs as import_module
from ml_model.artifacts import verify_export
from ml_model.import_tfjs import import_tfjs, read_tfjs
from tests.support.api_support import http_event, serving, store_for
from tests.support.handler_support import invoke
from tests.support.loopback import DUMMY_AWS, serve_folder
from tests.support.tfjs_support import REPO, tfjs_predict, tfjs_train

TRAIN_IMAGES = 2000  # real MNIST training digits TF.js trains on, one epoch
TEST_IMAGES = 500  # real MNIST test digits TF.js and the API both answer
# The original's layer types (conv2d, maxPooling2d, flatten, dropout, dense), kept small: TF.js's pure
# JavaScript CPU backend (no tfjs-node) trains convolutions slowly.
TFJS_CONFIG = {
    "epochs": 1,
    "batchSize": 16,
    "validationSplit": 0.1,
    "layers": [
        {
            "type": "conv2d",
            "parameters": {
                "inputShape": [28, 28, 1],
                "filters": 8,
                "kernelSize": 3,
                "strides": 2,
                "activation": "relu",
            },
        },
        {"type": "maxPooling2d", "parameters": {"poolSize": [2, 2]}},
        {"type": "flatten"},
        {"type": "dropout", "parameters": {"rate": 0.2}},
        {"type": "dense", "parameters": {"units": 10, "activation": "softmax"}},
    ],
}
# TF.js and LiteRT both compute in float32 with different kernels: rounding only (measured: < 1e-6).
PROBABILITY_TOLERANCE = 1e-4
# A sanity floor, not a quality bound: TF.js's accuracy on the 500 test digits after this one epoch,
# measured over five runs (TF.js's initialisers are unseeded), was 0.628-0.674; chance is 0.1.
MIN_TFJS_ACCURACY = 0.4


@pytest.fixture(scope="module")
def tfjs_model(real_mnist: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    """A model trained and saved by TF.js on real MNIST; its folder and its probabilities for the test digits."""
    folder, probabilities, summary = tfjs_train(
        TFJS_CONFIG,
        real_mnist.train_images[:TRAIN_IMAGES],
        real_mnist.train_labels[:TRAIN_IMAGES],
        real_mnist.test_images[:TEST_IMAGES],
        tmp_path_factory.mktemp("tfjs-trained"),
    )
    assert summary["layers"] == ["Conv2D", "MaxPooling2D", "Flatten", "Dropout", "Dense"], summary
    assert sorted(p.name for p in folder.iterdir()) == ["model.json", "weights.bin"]
    accuracy = np.mean(probabilities.argmax(axis=1) == real_mnist.test_labels[:TEST_IMAGES])
    assert accuracy >= MIN_TFJS_ACCURACY, accuracy
    return folder, probabilities


@pytest.fixture(scope="module")
def imported(tfjs_model: tuple[Path, np.ndarray], real_mnist: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return import_tfjs(str(tfjs_model[0]), tmp_path_factory.mktemp("exports") / "imported", mnist=real_mnist)


def _instances(images: np.ndarray) -> list[Any]:
    return [image[..., None].tolist() for image in images]


def _served_probabilities(model_url: str | Path, cache: Path, images: np.ndarray) -> np.ndarray:
    """What the API handler answers for `images` (TensorFlow Serving rows), MODEL_URL at `model_url`."""
    rows = []
    with serving(store_for(str(model_url), cache, runtime=TFLITE, precision=FLOAT32)):
        for start in range(0, len(images), 250):  # under MAX_BATCH_IMAGES
            response = invoke(http_event(body={"instances": _instances(images[start : start + 250])}))
            assert response["statusCode"] == 200, response["body"]
            rows.extend(json.loads(response["body"])["predictions"])
    return np.array(rows, dtype=np.float32)


def test_a_model_trained_by_tfjs_is_served_with_the_answers_tfjs_gives(
    tfjs_model: tuple[Path, np.ndarray], imported: Path, real_mnist: Any, tmp_path: Path
) -> None:
    folder, tfjs = tfjs_model
    manifest = verify_export(imported)
    source = manifest.raw["importedFrom"]
    assert source["source"] == str(folder) and source["generatedBy"].startswith("TensorFlow.js tfjs-layers")
    assert source["layers"] == ["Conv2D", "MaxPooling2D", "Flatten", "Dropout", "Dense"]
    assert source["modelJsonSha256"] == hashlib.sha256((folder / "model.json").read_bytes()).hexdigest()
    assert set(manifest.variants) == {"float32", "float16", "int8"}
    served = _served_probabilities(imported, tmp_path / "cache", real_mnist.test_images[:TEST_IMAGES])
    assert np.array_equal(served.argmax(axis=1), tfjs.argmax(axis=1))
    assert np.max(np.abs(served - tfjs)) <= PROBABILITY_TOLERANCE
    # ...and the import's own tfjs/ (written back by us) gives TF.js the same answers again.
    images = real_mnist.test_images[:TEST_IMAGES, ..., None].astype(np.float32) / 255
    (again,) = tfjs_predict([(imported / TFJS_MODEL, images)], tmp_path / "tfjs")
    assert not isinstance(again, str), again
    assert np.max(np.abs(again - tfjs)) <= PROBABILITY_TOLERANCE


def test_import_over_http_reads_the_same_model(tfjs_model: tuple[Path, np.ndarray], imported: Path) -> None:
    from_folder = verify_export(imported).raw["importedFrom"]
    with serve_folder(tfjs_model[0]) as server:
        over_http = read_tfjs(f"{server.url}/model.json")
        assert server.hits == {"/model.json": 1, "/weights.bin": 1}
    assert over_http.imported_from["weightsSha256"] == from_folder["weightsSha256"]
    assert over_http.imported_from["modelJsonSha256"] == from_folder["modelJsonSha256"]
    assert over_http.imported_from["source"] == f"{server.url}/model.json"


def test_import_from_s3_through_the_cli_then_deploy_and_serve(
    tfjs_model: tuple[Path, np.ndarray],
    imported: Path,
    real_mnist: Any,
    moto_endpoint: str,
    aws_env: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The whole move, as a user makes it: the original's bucket (`s3://BUCKET/model.json`) imported by
    the command, deployed, and served by the API from `s3://BUCKET/latest/model.json` with TF.js's answers."""
    from ml_model.deploy import deploy
    from ml_model.s3 import s3_client

    folder = tfjs_model[0]
    bucket = f"tfjs-{uuid.uuid4().hex[:8]}"
    client = s3_client(moto_endpoint)
    client.create_bucket(Bucket=bucket)
    for file in folder.iterdir():
        client.put_object(Bucket=bucket, Key=file.name, Body=file.read_bytes())
    out = tmp_path / "exports" / "from-s3"
    env = {**os.environ, **DUMMY_AWS, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "ml_model",
            "import-tfjs",
            f"s3://{bucket}/model.json",
            "--out",
            str(out),
            "--endpoint-url",
            moto_endpoint,
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and f"python -m ml_model deploy --export {out}" in done.stdout
    manifest = verify_export(out)
    assert manifest.raw["importedFrom"]["source"] == f"s3://{bucket}/model.json"
    assert manifest.raw["importedFrom"]["weightsSha256"] == verify_export(imported).raw["importedFrom"]["weightsSha256"]
    assert (out.parent / "latest").resolve() == out.resolve()
    result = deploy(out, bucket, client=client)
    assert f"{result.version}/{TFJS_MODEL}" in {spec.key for spec in result.objects}  # the TF.js model goes too
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    served = _served_probabilities(
        f"s3://{bucket}/latest/model.json", tmp_path / "cache", real_mnist.test_images[:TEST_IMAGES]
    )
    assert np.array_equal(served.argmax(axis=1), tfjs_model[1].argmax(axis=1))
    assert np.max(np.abs(served - tfjs_model[1])) <= PROBABILITY_TOLERANCE


def test_an_export_that_fails_its_verification_is_never_renamed_into_place(
    tfjs_model: tuple[Path, np.ndarray], real_mnist: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check between assembling and renaming really stops it: with a tolerance no model meets."""
    from ml_model.errors import TfjsImportError

    monkeypatch.setattr(import_module, "VERIFY_TOLERANCE", -1.0)
    exports = tmp_path / "exports"
    with pytest.raises(TfjsImportError, match="model.tflite does not compute what the imported model does"):
        import_tfjs(str(tfjs_model[0]), exports / "imported", mnist=real_mnist)
    assert list(exports.iterdir()) == [], "no export, no hidden folder, no latest link"
