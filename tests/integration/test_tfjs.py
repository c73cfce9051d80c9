"""The TF.js layers model every export carries (`tfjs/`, ml_model.tfjs), proven by real TF.js
(`@tensorflow/tfjs` in Node, tests/tfjs/predict.mjs): every layer type the config schema accepts
either gives TF.js the same outputs as Keras or is refused at export with a one-line reason naming
the layer (and Keras defaults TF.js lacks are refused with the reason). The trained export's TF.js
model: tests/slow/test_tfjs.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ml_model.config import parse_config
from ml_model.errors import ConfigError, ExportError
from ml_model.layers import TFJS_LAYER_TYPES, build_network
from ml_model.tfjs import write_tfjs
from tests.support.tfjs_support import PROBABILITY_TOLERANCE, tfjs_predict

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
REFUSED = {
    "categoryEncoding",
    "centerCrop",
    "conv3dTranspose",
    "convLstm2d",
    "embedding",
    "masking",
    "rescaling",
    "resizing",
    "thresholdedReLU",
}


def _config(layer_type: str, shape: list[int], parameters: dict[str, Any]) -> dict[str, Any]:
    return {
        "epochs": 1,
        "batchSize": 8,
        "validationSplit": 0,
        "savePath": f"exports/{layer_type}",
        "layers": [
            {"type": "reshape", "parameters": {"inputShape": [28, 28, 1], "targetShape": shape}},
            {"type": layer_type, "parameters": parameters},
            {"type": "flatten"},
            {"type": "dense", "parameters": {"units": 10, "activation": "softmax"}},
        ],
    }


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
    for message in refusals.values():
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
