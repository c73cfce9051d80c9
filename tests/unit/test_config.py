"""config.json parsing: the original project's schema verbatim, the TF.js → Keras mapping, and every error path.

The command line refusing a bad config, and parsing without Keras in a fresh process:
tests/integration/test_config.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ml_model.config import load_config, parse_config
from ml_model.errors import ConfigError
from ml_model.layers import TFJS_ALIASES, TFJS_LAYER_TYPES, build_network, camel_to_snake, keras_class
from tests.support.config_support import seed_with

REPO = Path(__file__).resolve().parents[2]


def test_shipped_config_is_the_original_verbatim() -> None:
    # tests/data/original_config.json is the original project's sample config.json, pinned byte for byte.
    original = (REPO / "tests" / "data" / "original_config.json").read_bytes()
    assert (REPO / "ml_model" / "config.json").read_bytes() == original


def test_seed_config_builds_the_seed_network() -> None:
    config = load_config(REPO / "ml_model" / "config.json")
    assert (config.epochs, config.batch_size, config.validation_split) == (20, 128, 0.15)
    assert config.optimizer == "rmsprop" and config.loss == "categorical_crossentropy"
    assert config.export_dir() == (REPO / "ml_model" / "exports" / "cpu-v2").resolve()
    model = build_network(config)
    kinds = [type(layer).__name__ for layer in model.layers[1:]]
    assert kinds == [
        "Conv2D",
        "Conv2D",
        "MaxPooling2D",
        "Conv2D",
        "Conv2D",
        "MaxPooling2D",
        "Flatten",
        "Dropout",
        "Dense",
        "Dropout",
        "Dense",
    ]
    assert model.input_shape == (None, 28, 28, 1) and model.output_shape == (None, 10)
    assert model.layers[1].kernel_size == (3, 3) and model.layers[3].pool_size == (2, 2)
    assert model.count_params() == 594_922


def test_shipped_best_config_is_valid() -> None:
    config = load_config(REPO / "ml_model" / "configs" / "best.json")
    assert config.augmentation is not None and config.schedule is not None
    assert build_network(config).output_shape == (None, 10)


@pytest.mark.parametrize("layer_type", sorted(TFJS_LAYER_TYPES - {"thresholdedReLU"}) + sorted(TFJS_ALIASES))
def test_every_tfjs_layer_type_maps_to_keras(layer_type: str) -> None:
    cls = keras_class(0, layer_type)
    assert cls.__name__.lower() == TFJS_ALIASES.get(layer_type, layer_type).lower()


def _with_layers(*layers: dict[str, Any], **top: Any) -> dict[str, Any]:
    first = {"type": "reshape", "parameters": {"inputShape": [28, 28, 1], "targetShape": [28, 28, 1]}}
    return {
        "epochs": 1,
        "batchSize": 32,
        "validationSplit": 0.1,
        "savePath": "exports/t",
        "layers": [first, *layers],
        **top,
    }


# Networks that exercise many layer families through the general mapping, each ending in 10 outputs.
VALID_STACKS = {
    "conv-family": [
        {"type": "zeroPadding2d", "parameters": {"padding": 1}},
        {"type": "separableConv2d", "parameters": {"filters": 4, "kernelSize": [3, 3], "depthMultiplier": 1}},
        {"type": "depthwiseConv2d", "parameters": {"kernelSize": 3, "depthwiseInitializer": "heNormal"}},
        {
            "type": "conv2dTranspose",
            "parameters": {"filters": 2, "kernelSize": 2, "strides": 2, "dataFormat": "channelsLast"},
        },
        {"type": "cropping2D", "parameters": {"cropping": [[1, 1], [1, 1]]}},
        {"type": "batchNormalization", "parameters": {"momentum": 0.9}},
        {"type": "leakyReLU"},
        {"type": "avgPool2d", "parameters": {"poolSize": 2}},
        {"type": "upSampling2d", "parameters": {"size": [2, 2]}},
        {"type": "gaussianNoise", "parameters": {"stddev": 0.1}},
        {"type": "globalAveragePooling2d"},
        {"type": "dense", "parameters": {"units": 10, "activation": "softmax", "kernelRegularizer": "l1l2"}},
    ],
    "sequence-family": [
        {"type": "reshape", "parameters": {"targetShape": [28, 28]}},
        {"type": "conv1d", "parameters": {"filters": 8, "kernelSize": 3, "activation": "elu"}},
        {"type": "maxPool1d", "parameters": {"poolSize": 2}},
        {"type": "lstm", "parameters": {"units": 8, "returnSequences": True}},
        {"type": "gru", "parameters": {"units": 8}},
        {"type": "repeatVector", "parameters": {"n": 2}},
        {"type": "simpleRNN", "parameters": {"units": 4}},
        {"type": "layerNormalization"},
        {"type": "dense", "parameters": {"units": 10}},
        {"type": "softmax"},
    ],
    "dense-from-flat-input": [
        {"type": "flatten"},
        {"type": "alphaDropout", "parameters": {"rate": 0.1}},
        {"type": "dense", "parameters": {"units": 32, "activation": "hardSigmoid", "useBias": False}},
        {"type": "gaussianDropout", "parameters": {"rate": 0.1}},
        {"type": "prelu"},
        {"type": "dense", "parameters": {"units": 10}},
        {"type": "activation", "parameters": {"activation": "softmax"}},
    ],
}


@pytest.mark.parametrize("name", sorted(VALID_STACKS))
def test_layer_families_build(name: str) -> None:
    config = parse_config(_with_layers(*VALID_STACKS[name]))
    assert build_network(config).output_shape == (None, 10)


def test_flat_input_shape_gets_a_reshape_and_the_fixed_signature() -> None:
    raw = {
        "epochs": 1,
        "batchSize": 8,
        "validationSplit": 0,
        "savePath": "exports/flat",
        "layers": [{"type": "dense", "parameters": {"inputShape": [784], "units": 10, "activation": "softmax"}}],
    }
    model = build_network(parse_config(raw))
    assert model.input_shape == (None, 28, 28, 1)
    assert type(model.layers[1]).__name__ == "Reshape"


def test_optional_keys_parse() -> None:
    config = parse_config(
        _with_layers(
            {"type": "flatten"},
            {"type": "dense", "parameters": {"units": 10, "activation": "softmax"}},
            optimizer="Adam",
            learningRate=0.01,
            loss="sparseCategoricalCrossentropy",
            metrics=["acc"],
            seed=3,
            augmentation={"rotation": 5, "zoom": 0.05, "translation": 0.1},
            earlyStopping={"patience": 2, "monitor": "val_accuracy", "restoreBestWeights": False},
            learningRateSchedule={"type": "exponential", "decayRate": 0.9},
        )
    )
    assert config.optimizer == "adam" and config.learning_rate == 0.01
    assert config.loss == "sparse_categorical_crossentropy" and config.metrics == ("accuracy",)
    assert config.early_stopping is not None and config.early_stopping.monitor == "val_accuracy"
    assert config.schedule is not None and config.schedule.decay_rate == 0.9


ERROR_CASES = [
    # (what is changed, the value, words the one-line message must contain)
    ("epochs", 0, ["epochs", "positive integer"]),
    ("epochs", "20", ["epochs"]),
    ("batchSize", 12.5, ["batchSize"]),
    ("validationSplit", 1, ["validationSplit", "[0, 1)"]),
    ("validationSplit", -0.1, ["validationSplit"]),
    ("validationSplit", True, ["validationSplit"]),
    ("savePath", "exports/latest", ["savePath"]),
    ("savePath", ..., ["missing", "savePath"]),
    ("layers", [], ["layers"]),
    ("layers", ..., ["missing", "layers"]),
    ("epoch", 3, ["unknown key 'epoch'", "did you mean 'epochs'"]),
    ("optimizer", "adamm", ["optimizer"]),
    ("loss", "hinge", ["loss"]),
    ("learningRate", -1, ["learningRate"]),
    ("seed", -2, ["seed"]),
    ("augmentation", {"rotation": 500}, ["augmentation.rotation"]),
    ("augmentation", {"shear": 0.1}, ["augmentation.shear"]),
    ("earlyStopping", {"monitor": "val_f1"}, ["earlyStopping.monitor"]),
    ("learningRateSchedule", {"decayRate": 0.5}, ["learningRateSchedule.type"]),
    ("layers.0.parameters.inputShape", ..., ["layers[0]", "inputShape"]),
    ("layers.0.parameters.inputShape", [28, 27], ["layers[0]", "784"]),
    ("layers.0.parameters.inputShape", [28, 28], ["layers[0]", "Keras rejects", "ndim"]),
    ("layers.0.parameters.inputShape", "28x28", ["layers[0]", "inputShape"]),
    ("layers.1.parameters.inputShape", [28, 28, 1], ["layers[1]", "inputShape", "first layer"]),
    ("layers.2.type", "maxPool2D", ["layers[2]", "unknown layer type 'maxPool2D'", "maxPool2d"]),
    ("layers.2.type", "add", ["layers[2]", "add"]),
    ("layers.2.type", "thresholdedReLU", ["layers[2]", "no Keras counterpart"]),
    ("layers.2.type", ..., ["layers[2]", "type"]),
    ("layers.3.parameters.kernalSize", 3, ["layers[3]", "unknown parameter 'kernalSize'", "kernelSize"]),
    ("layers.3.parameters.filters", "64", ["layers[3]", "filters", "integer"]),
    ("layers.3.parameters.filters", -4, ["layers[3]", "conv2d"]),
    ("layers.3.parameters.useBias", "yes", ["layers[3]", "useBias", "true or false"]),
    ("layers.3.parameters.kernelSize", [3, "x"], ["layers[3]", "kernelSize"]),
    ("layers.3.parameters.activation", "relux", ["layers[3]", "conv2d"]),
    ("layers.7.parameters.rate", 1.5, ["layers[7]", "dropout"]),
    ("layers.3.parameters.kernelSize", 30, ["layers[3]", "Keras rejects"]),
    ("layers.10.parameters.units", 9, ["layers[10]", "10 values"]),
    ("layers.6.type", "dense", ["layers[6]", "dense"]),
]


@pytest.mark.parametrize(("path", "value", "words"), ERROR_CASES, ids=[f"{p}={v!r}"[:60] for p, v, _ in ERROR_CASES])
def test_bad_config_is_refused_with_one_clear_line(tmp_path: Path, path: str, value: Any, words: list[str]) -> None:
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(seed_with(path, value)))
    with pytest.raises(ConfigError) as caught:
        build_network(load_config(config_file))  # parsing refuses most; Keras, when building, the rest
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("config.json: ")
    for word in words:
        assert word in message, message


@pytest.mark.parametrize(
    ("content", "words"), [("{not json", ["not valid JSON", "line 1"]), ("[1, 2]", ["JSON object"])]
)
def test_unreadable_config(tmp_path: Path, content: str, words: list[str]) -> None:
    path = tmp_path / "c.json"
    path.write_text(content)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert all(w in str(caught.value) for w in words)


@pytest.mark.parametrize(
    ("camel", "snake"),
    [
        ("kernelSize", "kernel_size"),
        ("useBias", "use_bias"),
        ("glorotUniform", "glorot_uniform"),
        ("conv2d", "conv2d"),
        ("channelsLast", "channels_last"),
    ],
)
def test_camel_to_snake(camel: str, snake: str) -> None:
    assert camel_to_snake(camel) == snake
