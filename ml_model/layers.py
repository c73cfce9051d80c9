"""TensorFlow.js layer specs → Keras layers, by one general rule rather than a case per layer.

A TensorFlow.js layer type is its Keras class name in lower camelCase (`maxPooling2d` ↔
`MaxPooling2D`), and its parameters are the Keras constructor's arguments in camelCase
(`kernelSize` ↔ `kernel_size`). So the mapping looks the class up by lower-cased name, renames the
keys, converts the few string values TensorFlow.js spells differently (`glorotUniform`,
`channelsLast`, ...), and checks every key and value against the Keras constructor's signature.
"""

from __future__ import annotations

import inspect
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from api.messages import did_you_mean, first_line
from api.runtime.manifest import IMAGE_SHAPE, INPUT_NAME, NUM_CLASSES, READER_CLASSES, READER_HEIGHT, READER_INPUT

from .config import LayerSpec, TrainConfig, is_int
from .errors import ConfigError

if TYPE_CHECKING:
    import keras

# Layer factories of `tf.layers` that can stand in a plain list of layers. Merge layers, RNN
# wrappers and cells need other layers as arguments, so a list cannot express them.
TFJS_LAYER_TYPES = frozenset(
    """activation alphaDropout averagePooling1d averagePooling2d averagePooling3d batchNormalization
    categoryEncoding centerCrop conv1d conv2d conv2dTranspose conv3d conv3dTranspose convLstm2d
    cropping2D dense depthwiseConv2d dropout elu embedding flatten gaussianDropout gaussianNoise
    globalAveragePooling1d globalAveragePooling2d globalMaxPooling1d globalMaxPooling2d gru
    layerNormalization leakyReLU lstm masking maxPooling1d maxPooling2d maxPooling3d permute prelu
    reLU repeatVector rescaling reshape resizing separableConv2d simpleRNN softmax
    spatialDropout1d thresholdedReLU upSampling2d zeroPadding2d""".split()
)
TFJS_ALIASES = {
    "avgPool1d": "averagePooling1d",
    "avgPooling1d": "averagePooling1d",
    "avgPool2d": "averagePooling2d",
    "avgPooling2d": "averagePooling2d",
    "avgPool3d": "averagePooling3d",
    "avgPooling3d": "averagePooling3d",
    "maxPool1d": "maxPooling1d",
    "maxPool2d": "maxPooling2d",
    "globalMaxPool1d": "globalMaxPooling1d",
    "globalMaxPool2d": "globalMaxPooling2d",
}
# TensorFlow.js types whose Keras classes need other layers as arguments or no longer exist.
NOT_IN_A_LIST = frozenset(
    "add average concatenate dot maximum minimum multiply bidirectional timeDistributed rnn "
    "stackedRNNCells gruCell lstmCell simpleRNNCell convLstm2dCell inputLayer randomWidth".split()
)

# Arguments every Keras layer takes through **kwargs.
BASE_ARGUMENTS = frozenset({"name", "dtype", "trainable"})
# String values TensorFlow.js spells in camelCase and Keras in snake_case.
STRING_VALUE_KEYS = re.compile(r"(initializer|regularizer|constraint|activation|data_format|interpolation|mode)$")
SPECIAL_VALUES = {"leCunNormal": "lecun_normal", "leCunUniform": "lecun_uniform", "l1l2": "l1l2"}
# Required constructor arguments have no default to infer a type from.
REQUIRED_KINDS = {
    "filters": "int",
    "units": "int",
    "n": "int",
    "input_dim": "int",
    "output_dim": "int",
    "num_tokens": "int",
    "height": "int",
    "width": "int",
    "rate": "number",
    "stddev": "number",
    "scale": "number",
    "kernel_size": "shape",
    "target_shape": "shape",
    "dims": "shape",
}


def camel_to_snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def snake_to_camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


@lru_cache(maxsize=1)
def _keras_classes() -> dict[str, type]:
    import keras

    return {
        name.lower(): cls
        for name, cls in vars(keras.layers).items()
        if inspect.isclass(cls) and issubclass(cls, keras.layers.Layer)
    }


def keras_class(index: int, layer_type: str) -> type:
    """The Keras class for a TensorFlow.js layer type, or a ConfigError naming the layer."""
    canonical = TFJS_ALIASES.get(layer_type, layer_type)
    where = f"layers[{index}]"
    if canonical in NOT_IN_A_LIST:
        raise ConfigError(f"{where}: layer type '{layer_type}' cannot be used in a plain layer list")
    if canonical not in TFJS_LAYER_TYPES:
        suggestion = did_you_mean(layer_type, sorted(TFJS_LAYER_TYPES | set(TFJS_ALIASES)))
        raise ConfigError(f"{where}: unknown layer type '{layer_type}'{suggestion}")
    cls = _keras_classes().get(canonical.lower())
    if cls is None:
        raise ConfigError(f"{where}: layer type '{layer_type}' has no Keras counterpart")
    return cls


def keras_class_by_name(class_name: str) -> type:
    """The Keras layer class of a Keras class name (`Conv2D`), as a TF.js topology names it."""
    cls = _keras_classes().get(class_name.lower())
    if cls is None:
        raise ConfigError(f"Keras has no layer class {class_name!r}")
    return cls


def keras_arguments(index: int, spec: LayerSpec, cls: type) -> dict[str, Any]:
    """The spec's parameters as keyword arguments for `cls`, each checked against its signature."""
    signature = inspect.signature(cls.__init__).parameters
    accepted = {n for n, p in signature.items() if n != "self" and p.kind is not p.VAR_KEYWORD} | BASE_ARGUMENTS
    where = f"layers[{index}] ({spec.type})"
    arguments: dict[str, Any] = {}
    for key, value in spec.parameters.items():
        if key in ("inputShape", "batchInputShape"):
            if index != 0:
                raise ConfigError(f"{where}: '{key}' is only allowed on the first layer")
            continue
        name = camel_to_snake(key)
        if name == "input_dim" and name not in accepted:
            continue  # TensorFlow.js's shorthand for inputShape [inputDim]; the input is fixed here
        if name not in accepted:
            suggestion = did_you_mean(key, sorted(snake_to_camel(a) for a in accepted))
            raise ConfigError(f"{where}: unknown parameter '{key}'{suggestion}")
        parameter = signature.get(name)
        default = parameter.default if parameter is not None else None
        kind = REQUIRED_KINDS.get(name) or _kind_of(default)
        if not _matches(kind, value):
            raise ConfigError(f"{where}: parameter '{key}' must be {_KIND_TEXT[kind]}, got {value!r}")
        arguments[name] = _convert(name, value)
    return arguments


@dataclass(frozen=True)
class Contract:
    """What a network built from a config must take and give (without the batch axis)."""

    input: tuple[int | None, ...]
    input_name: str
    output: tuple[int | None, ...]
    output_text: str  # what the last layer must output, for the error message


# The digit classifier: a 28x28 image → ten probabilities (any arrangement of the 784 pixels is reshaped).
DIGITS = Contract(IMAGE_SHAPE, INPUT_NAME, (NUM_CLASSES,), f"{NUM_CLASSES} values per image (one per digit)")
# The number reader: a line of any width → a distribution over the digits and the blank per column step.
READER_CONTRACT = Contract(
    (READER_HEIGHT, None, 1),
    READER_INPUT,
    (None, READER_CLASSES),
    f"{READER_CLASSES} values per column step (ten digits and the blank), as [steps, {READER_CLASSES}]",
)


def input_shape(config: TrainConfig, contract: Contract = DIGITS) -> tuple[int | None, ...]:
    first = config.layers[0].parameters
    if "inputShape" in first:
        shape = first["inputShape"]
    else:
        shape = first["batchInputShape"]
        shape = shape[1:] if isinstance(shape, list) else shape
    where = f"layers[0] ({config.layers[0].type})"
    key = "inputShape" if "inputShape" in first else "batchInputShape"
    if contract is not DIGITS:
        if not isinstance(shape, list) or tuple(shape) != contract.input:
            wanted = json.dumps(list(contract.input))
            raise ConfigError(f"{where}: '{key}' must be {wanted} (null: any width), got {json.dumps(shape)}")
        return contract.input
    if not isinstance(shape, list) or not shape or not all(is_int(d) and d > 0 for d in shape):
        raise ConfigError(f"{where}: '{key}' must be a list of positive integers, got {shape!r}")
    size = 1
    for d in shape:
        size *= d
    if size != IMAGE_SHAPE[0] * IMAGE_SHAPE[1] * IMAGE_SHAPE[2]:
        raise ConfigError(f"{where}: '{key}' {shape} does not hold a 28x28 MNIST image (784 values)")
    return tuple(shape)


def build_network(config: TrainConfig, contract: Contract = DIGITS) -> keras.Model:
    """The config's layers as a Keras model with the fixed serving input [None, 28, 28, 1].

    A config whose `inputShape` is another arrangement of the 784 pixels (say `[784]`) gets a
    Reshape in front, so every export has the same signature. Keras's objections to a layer become
    one-line ConfigErrors that name the config, as the parser's do.
    """
    try:
        return _build(config, contract)
    except ConfigError as exc:
        raise ConfigError(f"{config.label}: {exc}") from None


def _build(config: TrainConfig, contract: Contract) -> keras.Model:
    import keras

    shape = input_shape(config, contract)
    inputs = keras.Input(shape=contract.input, name=contract.input_name)
    x = inputs if shape == contract.input else keras.layers.Reshape(shape, name="input_reshape")(inputs)
    for index, spec in enumerate(config.layers):
        cls = keras_class(index, spec.type)
        arguments = keras_arguments(index, spec, cls)
        where = f"layers[{index}] ({spec.type})"
        try:
            layer = cls(**arguments)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{where}: {first_line(exc)}") from None
        try:
            x = layer(x)
        except Exception as exc:  # noqa: BLE001 - Keras raises ValueError, TypeError or backend errors here
            raise ConfigError(f"{where}: Keras rejects this layer here: {first_line(exc)}") from None
    if tuple(x.shape) != (None, *contract.output):
        raise ConfigError(
            f"layers[{len(config.layers) - 1}] ({config.layers[-1].type}): the last layer must output "
            f"{contract.output_text}, got shape {tuple(x.shape)}"
        )
    return keras.Model(inputs, x, name=config.export_name.replace("-", "_"))


_KIND_TEXT = {
    "int": "an integer",
    "number": "a number",
    "bool": "true or false",
    "str": "a string",
    "shape": "an integer or a list of integers",
    "any": "a value",
}


def _kind_of(default: Any) -> str:
    if isinstance(default, bool):
        return "bool"
    if isinstance(default, int):
        return "int"
    if isinstance(default, float):
        return "number"
    if isinstance(default, str):
        return "str"
    if isinstance(default, tuple):
        return "shape"
    return "any"


def _matches(kind: str, value: Any) -> bool:
    if kind == "int":
        return is_int(value)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "str":
        return isinstance(value, str)
    if kind == "shape":
        return is_int(value) or (isinstance(value, list) and all(is_int(v) or _is_pair(v) for v in value))
    return True


def _convert(name: str, value: Any) -> Any:
    if isinstance(value, str) and STRING_VALUE_KEYS.search(name):
        return SPECIAL_VALUES.get(value) or camel_to_snake(value)
    if isinstance(value, dict) and STRING_VALUE_KEYS.search(name):
        # TensorFlow.js serialised form: {"className": "VarianceScaling", "config": {"scale": 2}}
        return {
            "class_name": value.get("className", value.get("class_name")),
            "config": {camel_to_snake(k): v for k, v in dict(value.get("config", {})).items()},
        }
    if isinstance(value, list):
        return tuple(tuple(v) if isinstance(v, list) else v for v in value)
    return value


def _is_pair(value: Any) -> bool:
    return isinstance(value, list) and all(is_int(v) for v in value)
