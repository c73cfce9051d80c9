"""The TF.js layers-model format, and a Keras model written in it as `model.json` + weight shards
(`ml_model.tfjs_read` reads such files, ours or the original project's, back into Keras).

The format (what `tf.loadLayersModel` reads and `model.save` writes):

- `model.json`: `format: "layers-model"`, `generatedBy`, `convertedBy`, `modelTopology` (a Keras 2
  style topology: `{"class_name": "Sequential", "config": {"name", "layers": [{"class_name",
  "config"}]}, "keras_version", "backend"}` with snake_case layer configs, the first layer carrying
  `batch_input_shape`) and `weightsManifest` (`[{"paths": [...], "weights": [{"name", "shape",
  "dtype"}]}]`);
- the shards: each group's weights as little-endian float32, in manifest order, concatenated and cut
  into files of at most 4 MB.

Keras 3's `get_config` is not that topology (dtype policy objects, `module`/`registered_name` keys,
InputLayer `batch_shape`, initializer arguments TF.js lacks), so each direction translates
explicitly, and only for the layer classes listed in TFJS_CLASSES, each proven against real TF.js by
tests/*/test_tfjs.py. Any other layer, argument or activation is refused with a one-line reason naming
the layer (ExportError on export, TfjsImportError on import), never written approximately.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from api.runtime.manifest import TFJS_FORMAT, TFJS_SHARD_BYTES, tfjs_shard_name

from .errors import ExportError

if TYPE_CHECKING:
    import keras


log = logging.getLogger(__name__)


CONVERTED_BY = "number-prediction ml_model.tfjs"


KERAS_VERSION = "tfjs-layers 4.22.0"  # the TF.js version the topology is written for (and tested with)


BACKEND = "tensor_flow.js"


WEIGHT_DTYPE = "float32"


# Keras layer classes that exist in TF.js with the same meaning and weights (proven by tests/*/test_tfjs.py).
TFJS_CLASSES = frozenset(
    """Activation AlphaDropout AveragePooling1D AveragePooling2D AveragePooling3D BatchNormalization Conv1D Conv2D
    Conv2DTranspose Conv3D Cropping2D Dense DepthwiseConv2D Dropout ELU Flatten GaussianDropout GaussianNoise
    GlobalAveragePooling1D GlobalAveragePooling2D GlobalMaxPooling1D GlobalMaxPooling2D GRU LayerNormalization
    LeakyReLU LSTM MaxPooling1D MaxPooling2D MaxPooling3D Permute PReLU ReLU RepeatVector Reshape SeparableConv2D
    SimpleRNN Softmax SpatialDropout1D UpSampling2D ZeroPadding2D""".split()
)


# Why the other layer types the config schema accepts are not written as TF.js.
REFUSED_CLASSES = {
    "Conv3DTranspose": "TF.js has no conv3dTranspose layer",
    "ConvLSTM2D": "TF.js's convLstm2d does not load Keras 3's ConvLSTM2D weights layout",
    "Embedding": "an embedding of pixel values has no meaning in TF.js (it needs integer inputs)",
    "CategoryEncoding": "TF.js's categoryEncoding needs integer inputs",
    "Masking": "TF.js's masking layer cannot be the input of this image model's layers",
    "Rescaling": "TF.js's rescaling layer is not in its layers-model serialisation registry",
    "Resizing": "TF.js's resizing layer interpolates differently from Keras's",
    "CenterCrop": "TF.js's centerCrop layer is not in its layers-model serialisation registry",
}


# Activations TF.js knows by the same name and definition as Keras 3.
TFJS_ACTIVATIONS = frozenset(
    "elu linear relu relu6 selu sigmoid softmax softplus softsign tanh swish mish gelu".split()
)


# Keras 3 config keys TF.js has no counterpart for, and the value that means "as TF.js does".
KERAS3_DEFAULTS: dict[str, Any] = {
    "groups": 1,
    "lora_rank": None,
    "lora_alpha": None,
    "quantization_config": None,
    "synchronized": False,
    "renorm": False,
    "renorm_clipping": None,
    "renorm_momentum": 0.99,
    "rms_scaling": False,
    "zero_output_for_mask": False,
    "use_cudnn": "auto",
    "interpolation": "nearest",
}


# ...and per class, for keys whose name other classes use with another meaning.
CLASS_DEFAULTS: dict[str, dict[str, Any]] = {"ReLU": {"negative_slope": 0.0, "threshold": 0.0}}


# Keras weight names TF.js spells differently, by layer class.
WEIGHT_RENAMES = {"DepthwiseConv2D": {"kernel": "depthwise_kernel"}}


# Regularizer classes of Keras 3 as TF.js's one L1L2 class.
REGULARIZERS = {
    "L1": lambda c: {"l1": c.get("l1", 0.0), "l2": 0.0},
    "L2": lambda c: {"l1": 0.0, "l2": c.get("l2", 0.0)},
    "L1L2": lambda c: {"l1": c.get("l1", 0.0), "l2": c.get("l2", 0.0)},
}


# Configuration keys that only shape training, not what the model computes: not carried on import.
TRAINING_ONLY = ("_initializer", "_regularizer", "_constraint")


# What an imported layer config may carry besides the layer's own arguments.
INPUT_KEYS = ("batch_input_shape", "input_shape", "batch_size", "input_dtype")


# Marks of a Keras 3 serialisation, which TF.js neither writes nor reads.
KERAS3_MARKS = ("module", "registered_name", "build_config")


@dataclass(frozen=True)
class WeightSpec:
    name: str
    shape: tuple[int, ...]
    dtype: str = WEIGHT_DTYPE

    @property
    def size(self) -> int:
        return math.prod(self.shape)


def write_tfjs(model: keras.Model, folder: Path) -> list[str]:
    """Write `model` as a TF.js layers model into `folder` (created); returns the file names,
    `model.json` first. Raises ExportError naming the layer that TF.js cannot express."""
    import keras

    topology = model_topology(model)
    specs, arrays = named_weights(model)
    data = b"".join(np.ascontiguousarray(a, dtype="<f4").tobytes() for a in arrays)
    count = max(1, math.ceil(len(data) / TFJS_SHARD_BYTES))
    shards = [tfjs_shard_name(i + 1, count) for i in range(count)]
    folder.mkdir(parents=True, exist_ok=True)
    for i, shard in enumerate(shards):
        (folder / shard).write_bytes(data[i * TFJS_SHARD_BYTES : (i + 1) * TFJS_SHARD_BYTES])
    document = {
        "format": TFJS_FORMAT,
        "generatedBy": f"keras v{keras.__version__}",
        "convertedBy": CONVERTED_BY,
        "modelTopology": topology,
        "weightsManifest": [
            {
                "paths": shards,
                "weights": [{"name": s.name, "shape": list(s.shape), "dtype": s.dtype} for s in specs],
                # Not read by TF.js; lets `import-tfjs` check the shards it fetches.
                "sha256": [hashlib.sha256((folder / shard).read_bytes()).hexdigest() for shard in shards],
            }
        ],
    }
    (folder / "model.json").write_text(json.dumps(document) + "\n", encoding="utf-8")
    return ["model.json", *shards]


def model_topology(model: keras.Model) -> dict[str, Any]:
    """The model as a TF.js Sequential topology (our networks are one chain of layers)."""
    layers = [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]
    _check_chain(model, layers)
    # A Flatten of an already flat input is the identity in Keras and an error in TF.js (which wants
    # rank 3 or more): left out, the computation is the same.
    layers = [layer for layer in layers if not (type(layer).__name__ == "Flatten" and len(layer.input.shape) == 2)]
    entries = []
    for index, layer in enumerate(layers):
        config = layer_config(layer)
        if index == 0:
            config["batch_input_shape"] = [None, *model.inputs[0].shape[1:]]
        entries.append({"class_name": type(layer).__name__, "config": config})
    return {
        "class_name": "Sequential",
        "config": {"name": model.name, "layers": entries},
        "keras_version": KERAS_VERSION,
        "backend": BACKEND,
    }


def _check_chain(model: keras.Model, layers: Sequence[keras.layers.Layer]) -> None:
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ExportError("TF.js export: the model must have one input and one output")
    previous = model.inputs[0]
    for layer in layers:
        if len(layer._inbound_nodes) != 1 or layer.input is not previous:  # noqa: SLF001 - Keras has no public form
            raise ExportError(f"TF.js export: layer '{layer.name}' is not part of one chain of layers")
        previous = layer.output


def layer_config(layer: keras.layers.Layer) -> dict[str, Any]:
    """One layer's Keras 3 config as TF.js reads it; ExportError with the reason for what it cannot."""
    cls = type(layer).__name__
    where = f"TF.js export: layer '{layer.name}' ({cls})"
    if cls not in TFJS_CLASSES:
        raise ExportError(f"{where}: {REFUSED_CLASSES.get(cls, 'TF.js has no such layer')}")
    config: dict[str, Any] = {}
    defaults = {**KERAS3_DEFAULTS, **CLASS_DEFAULTS.get(cls, {})}
    for key, value in layer.get_config().items():
        if key in defaults:
            if value != defaults[key]:
                raise ExportError(f"{where}: {key}={value!r} has no TF.js counterpart")
            continue
        if key == "dtype":
            value = _dtype_name(value)
            if value != WEIGHT_DTYPE:
                raise ExportError(f"{where}: dtype {value} (TF.js layers models hold float32)")
        elif "activation" in key and isinstance(value, str) and value not in TFJS_ACTIVATIONS:
            raise ExportError(f"{where}: activation '{value}' has no TF.js counterpart of the same definition")
        elif key.endswith("_regularizer") and value is not None:
            value = _regularizer(value, where)
        else:
            value = _plain(value)
        if value is not None:
            config[key] = value
    if cls == "GRU" and config.get("reset_after", False):
        raise ExportError(
            f"{where}: reset_after=true (TF.js's GRU has only reset_after=false); set resetAfter: false in the config"
        )
    config.pop("reset_after", None)
    if cls == "LeakyReLU" and "negative_slope" in config:
        config["alpha"] = config.pop("negative_slope")
    return config


def _dtype_name(value: Any) -> Any:
    if isinstance(value, dict):  # Keras 3's DTypePolicy object
        return value.get("config", {}).get("name")
    return value


def _plain(value: Any) -> Any:
    """A config value without Keras 3's serialisation wrappers: lists, not tuples; no None fields."""
    if isinstance(value, dict):
        if "class_name" in value:
            return {"class_name": value["class_name"], "config": _plain(value.get("config") or {})}
        return {k: _plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _regularizer(value: Any, where: str) -> dict[str, Any]:
    name = value.get("class_name") if isinstance(value, dict) else None
    if name not in REGULARIZERS:
        raise ExportError(f"{where}: regularizer {name or value!r} has no TF.js counterpart")
    return {"class_name": "L1L2", "config": REGULARIZERS[name](value.get("config") or {})}


def named_weights(model: keras.Model) -> tuple[list[WeightSpec], list[np.ndarray]]:
    """Every weight as TF.js names it (`<layer>/<weight>`), in layer order, with its values."""
    specs, arrays = [], []
    for layer in model.layers:
        renames = WEIGHT_RENAMES.get(type(layer).__name__, {})
        for variable in layer.weights:
            value = np.asarray(variable.numpy(), dtype=np.float32)
            weight = variable.name.rsplit("/", 1)[-1]
            specs.append(WeightSpec(f"{layer.name}/{renames.get(weight, weight)}", tuple(value.shape)))
            arrays.append(value)
    return specs, arrays
