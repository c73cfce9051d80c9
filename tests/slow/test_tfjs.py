"""The trained export's TF.js layers model (`tfjs/`, ml_model.tfjs): listed in the manifest with sizes
and checksums, and real TF.js (`@tensorflow/tfjs` in Node, tests/tfjs/predict.mjs) predicts the same
digits as LiteRT float32. Every layer type through TF.js: tests/integration/test_tfjs.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from api.runtime.manifest import MANIFEST_NAME, TFJS, TFJS_MODEL, parse_manifest, tfjs_shard_key
from api.runtime.predictor import LiteRTPredictor
from ml_model.artifacts import verify_export
from ml_model.data import to_model_input
from tests.support.tfjs_support import PROBABILITY_TOLERANCE, tfjs_predict

DIGITS = 500  # MNIST test digits TF.js and LiteRT both predict


def test_the_export_lists_the_tfjs_files_with_sizes_and_checksums(mnist_export: Path) -> None:
    manifest = verify_export(mnist_export)  # sizes and sha256 of every artifact, the TF.js files included
    assert manifest.artifact(TFJS).path == TFJS_MODEL
    shard = manifest.artifact(tfjs_shard_key(1))
    assert shard.path == "tfjs/group1-shard1of1.bin"
    model = json.loads((mnist_export / TFJS_MODEL).read_text())
    assert model["format"] == "layers-model" and model["convertedBy"] and model["generatedBy"].startswith("keras")
    topology = model["modelTopology"]
    assert topology["class_name"] == "Sequential" and topology["backend"] == "tensor_flow.js"
    layers = topology["config"]["layers"]
    assert [entry["class_name"] for entry in layers] == [
        "Conv2D",
        "MaxPooling2D",
        "Conv2D",
        "MaxPooling2D",
        "Flatten",
        "Dense",
    ]
    assert layers[0]["config"]["batch_input_shape"] == [None, 28, 28, 1]
    text = json.dumps(topology)
    assert "registered_name" not in text and "DTypePolicy" not in text and "batch_shape" not in text
    (group,) = model["weightsManifest"]
    assert group["paths"] == ["group1-shard1of1.bin"]
    assert shard.bytes == 4 * sum(int(np.prod(w["shape"])) for w in group["weights"])
    assert parse_manifest((mnist_export / MANIFEST_NAME).read_bytes()).artifacts.keys() >= {TFJS, tfjs_shard_key(1)}


def test_tfjs_predicts_the_digits_litert_does(mnist_export: Path, real_mnist: Any, tmp_path: Path) -> None:
    images = to_model_input(real_mnist.test_images[:DIGITS])
    litert = LiteRTPredictor(mnist_export / "model.tflite", num_threads=1).predict(images)
    (tfjs,) = tfjs_predict([(mnist_export / TFJS_MODEL, images)], tmp_path)
    assert not isinstance(tfjs, str), tfjs
    assert tfjs.shape == (DIGITS, 10)
    assert np.array_equal(tfjs.argmax(axis=1), litert.argmax(axis=1))
    assert np.max(np.abs(tfjs - litert)) <= PROBABILITY_TOLERANCE
    assert np.mean(tfjs.argmax(axis=1) == real_mnist.test_labels[:DIGITS]) > 0.9  # a real model, not noise
