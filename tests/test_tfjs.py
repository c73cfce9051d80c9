"""The TF.js layers model every export carries (`tfjs/`, ml_model.tfjs), proven by real TF.js
(`@tensorflow/tfjs` in Node, tests/tfjs/predict.mjs): the trained export predicts the same digits as
LiteRT float32, and every layer type the config schema accepts either gives TF.js the same outputs
as Keras or is refused at export with a one-line reason naming the layer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from api.runtime.manifest import MANIFEST_NAME, TFJS, TFJS_MODEL, parse_manifest, tfjs_shard_key
from api.runtime.predictor import LiteRTPredictor
from ml_model.config import parse_config
from ml_model.data import to_model_input
from ml_model.errors import ConfigError, ExportError
from ml_model.export import verify_export
from ml_model.layers import TFJS_LAYER_TYPES, build_network
from ml_model.tfjs import write_tfjs
from tfjs_support import tfjs_predict

DIGITS = 500  # MNIST test digits TF.js and LiteRT both predict
# float32 on both sides, different kernels: the outputs differ by rounding only (measured: < 1e-6).
PROBABILITY_TOLERANCE = 1e-4

# One small network per layer type: the layer on an input of the rank it takes, then flatten and dense.
IMAGE, SEQUENCE, VOLUME, FLAT = [28, 28, 1], [28, 28], [28, 28, 1, 1], [784]
LAYER_CASES: dict[str, tuple[list[int], dict[str, Any]]] = {
    "activation": (FLAT, {"activation": "tanh"}),
    "alphaDropout": (FLAT, {"rate": 0.2}),
    "averagePooling1d": (SEQUENCE, {"poolSize": 2}),
    "averagePooling2d": (IMAGE, {"poolSize": 2}),
    "averagePooling3d": (VOLUME, {"poolSize": [2, 2, 1]}),
    "batchNormalization": (IMAGE, {}),
    "categoryEncoding": (FLAT, {"numTokens": 10}),
    "centerCrop": (IMAGE, {"height": 20, "width": 20}),
    "conv1d": (SEQUENCE, {"filters": 3, "kernelSize": 3, "activation": "relu"}),
    "conv2d": (IMAGE, {"filters": 3, "kernelSize": 3, "strides": 2, "padding": "same"}),
    "conv2dTranspose": (IMAGE, {"filters": 2, "kernelSize": 3, "strides": 2}),
    "conv3d": (VOLUME, {"filters": 2, "kernelSize": [3, 3, 1]}),
    "conv3dTranspose": (VOLUME, {"filters": 2, "kernelSize": [3, 3, 1]}),
    "convLstm2d": (VOLUME, {"filters": 2, "kernelSize": [3, 1]}),
    "cropping2D": (IMAGE, {"cropping": [[2, 3], [1, 2]]}),
    "dense": (FLAT, {"units": 16, "activation": "relu", "kernelRegularizer": "l1l2"}),
    "depthwiseConv2d": (IMAGE, {"kernelSize": 3, "depthMultiplier": 2}),
    "dropout": (IMAGE, {"rate": 0.3}),
    "elu": (FLAT, {}),
    "embedding": (FLAT, {"inputDim": 2, "outputDim": 2}),
    "flatten": (IMAGE, {}),
    "gaussianDropout": (FLAT, {"rate": 0.2}),
    "gaussianNoise": (FLAT, {"stddev": 0.1}),
    "globalAveragePooling1d": (SEQUENCE, {}),
    "globalAveragePooling2d": (IMAGE, {}),
    "globalMaxPooling1d": (SEQUENCE, {}),
    "globalMaxPooling2d": (IMAGE, {}),
    "gru": (SEQUENCE, {"units": 4, "resetAfter": False}),
    "layerNormalization": (IMAGE, {}),
    "leakyReLU": (FLAT, {"negativeSlope": 0.2}),
    "lstm": (SEQUENCE, {"units": 4}),
    "masking": (SEQUENCE, {"maskValue": 0.0}),
    "maxPooling1d": (SEQUENCE, {"poolSize": 2}),
    "maxPooling2d": (IMAGE, {"poolSize": [2, 2]}),
    "maxPooling3d": (VOLUME, {"poolSize": [2, 2, 1]}),
    "permute": (IMAGE, {"dims": [2, 1, 3]}),
    "prelu": (IMAGE, {}),
    "reLU": (FLAT, {"maxValue": 0.5}),
    "repeatVector": (FLAT, {"n": 2}),
    "rescaling": (FLAT, {"scale": 2.0}),
    "reshape": (FLAT, {"targetShape": [28, 28, 1]}),
    "resizing": (IMAGE, {"height": 14, "width": 14}),
    "separableConv2d": (IMAGE, {"filters": 2, "kernelSize": 3}),
    "simpleRNN": (SEQUENCE, {"units": 4}),
    "softmax": (FLAT, {}),
    "spatialDropout1d": (SEQUENCE, {"rate": 0.2}),
    "thresholdedReLU": (FLAT, {}),
    "upSampling2d": (IMAGE, {"size": [2, 2]}),
    "zeroPadding2d": (IMAGE, {"padding": 1}),
}
# The types TF.js cannot take from us: refused, with the reason, at export (or by Keras, which lacks them).
REFUSED = {"categoryEncoding", "centerCrop", "conv3dTranspose", "convLstm2d", "embedding", "masking", "rescaling",
           "resizing", "thresholdedReLU"}


def _config(layer_type: str, shape: list[int], parameters: dict[str, Any]) -> dict[str, Any]:
    return {"epochs": 1, "batchSize": 8, "validationSplit": 0, "savePath": f"exports/{layer_type}", "layers": [
        {"type": "reshape", "parameters": {"inputShape": [28, 28, 1], "targetShape": shape}},
        {"type": layer_type, "parameters": parameters},
        {"type": "flatten"},
        {"type": "dense", "parameters": {"units": 10, "activation": "softmax"}},
    ]}


def _randomise(model: Any, rng: np.random.Generator) -> None:
    """Weights that make every layer matter (untrained biases are zero, batch statistics 0 and 1)."""
    for variable in model.weights:
        values = rng.normal(0, 0.3, size=tuple(variable.shape))
        if "variance" in variable.name:
            values = np.abs(values) + 0.5
        variable.assign(values.astype(np.float32))


def test_every_layer_type_round_trips_through_tfjs_or_is_refused(tmp_path: Path) -> None:
    assert set(LAYER_CASES) == set(TFJS_LAYER_TYPES), "every type the config schema accepts has a case here"
    rng = np.random.default_rng(0)
    images = rng.random((4, 28, 28, 1), dtype=np.float32)
    jobs, expected, refusals = [], {}, {}
    for layer_type, (shape, parameters) in LAYER_CASES.items():
        try:
            model = build_network(parse_config(_config(layer_type, shape, parameters)))
            _randomise(model, rng)
            write_tfjs(model, tmp_path / layer_type)
        except (ConfigError, ExportError) as exc:
            refusals[layer_type] = str(exc)
            continue
        jobs.append((layer_type, tmp_path / layer_type / "model.json"))
        expected[layer_type] = model.predict(images, verbose=0)
    assert set(refusals) == REFUSED, refusals
    for layer_type, message in refusals.items():
        assert "\n" not in message and ("layers[1]" in message or "layer '" in message), message
    results = tfjs_predict([(path, images) for _, path in jobs], tmp_path / "work")
    failures = {}
    for (layer_type, _), result in zip(jobs, results):
        if isinstance(result, str):
            failures[layer_type] = f"TF.js cannot load it: {result}"
        elif not np.allclose(result, expected[layer_type], rtol=0, atol=PROBABILITY_TOLERANCE):
            failures[layer_type] = f"outputs differ by {np.max(np.abs(result - expected[layer_type])):.2g}"
    assert not failures, failures


def test_keras_defaults_tfjs_lacks_are_refused_with_the_reason() -> None:
    cases = {
        "gru": ({"units": 4}, "reset_after"),  # Keras 3's default; TF.js's GRU has only reset_after=false
        "upSampling2d": ({"interpolation": "bilinear"}, "interpolation='bilinear'"),
        "dense": ({"units": 8, "activation": "silu"}, "activation 'silu'"),
    }
    for layer_type, (parameters, reason) in cases.items():
        shape = SEQUENCE if layer_type == "gru" else IMAGE
        model = build_network(parse_config(_config(layer_type, shape, parameters)))
        with pytest.raises(ExportError) as caught:
            write_tfjs(model, Path("/nonexistent/never-written"))
        assert reason in str(caught.value) and "\n" not in str(caught.value), caught.value


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
    assert [entry["class_name"] for entry in layers] == ["Conv2D", "MaxPooling2D", "Conv2D", "MaxPooling2D",
                                                         "Flatten", "Dense"]
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
