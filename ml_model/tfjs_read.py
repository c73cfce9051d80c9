"""TF.js layers models read back into Keras (the format: `ml_model.tfjs`): parsed, checked, rebuilt, weighted."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from api.runtime.manifest import IMAGE_SHAPE, INPUT_NAME, NUM_CLASSES, TFJS_FORMAT

from .errors import TfjsImportError
from .tfjs import (
    INPUT_KEYS,
    KERAS3_MARKS,
    REFUSED_CLASSES,
    TFJS_ACTIVATIONS,
    TFJS_CLASSES,
    TRAINING_ONLY,
    WEIGHT_DTYPE,
    WEIGHT_RENAMES,
    WeightSpec,
)

if TYPE_CHECKING:
    import keras


@dataclass(frozen=True)
class LayersModel:
    """A parsed TF.js `model.json`: its layer entries, the input shape and the weight groups."""

    name: str
    layers: tuple[Mapping[str, Any], ...]
    batch_input_shape: tuple[int | None, ...]
    groups: tuple[tuple[tuple[str, ...], tuple[WeightSpec, ...]], ...]  # (shard paths, weights)
    raw: Mapping[str, Any]


def parse_layers_model(raw: Any, label: str = "model.json") -> LayersModel:
    """Check a TF.js layers-model `model.json` (parsed JSON); TfjsImportError saying what is wrong."""
    if not isinstance(raw, dict) or "modelTopology" not in raw or "weightsManifest" not in raw:
        raise TfjsImportError(f"{label}: not a TF.js layers model (no modelTopology and weightsManifest)")
    if raw.get("format", TFJS_FORMAT) != TFJS_FORMAT:
        raise TfjsImportError(
            f"{label}: format {raw.get('format')!r} is not a layers model (a graph model has no layers to build)"
        )
    topology = raw["modelTopology"]
    if isinstance(topology, dict) and "model_config" in topology:
        topology = topology["model_config"]
    if not isinstance(topology, dict):
        raise TfjsImportError(f"{label}: modelTopology must be an object")
    _refuse_keras3(topology, f"{label}: modelTopology")
    if topology.get("class_name") != "Sequential":
        raise TfjsImportError(
            f"{label}: model class {topology.get('class_name')!r}; only Sequential models "
            "(what tf.sequential() saves) can be imported"
        )
    config = topology.get("config")
    layers = config.get("layers") if isinstance(config, dict) else config  # TF.js < 1 wrote the list itself
    if not isinstance(layers, list) or not layers:
        raise TfjsImportError(f"{label}: modelTopology has no layers")
    for index, entry in enumerate(layers):
        if (
            not isinstance(entry, dict)
            or not isinstance(entry.get("class_name"), str)
            or not isinstance(entry.get("config"), dict)
        ):
            raise TfjsImportError(f"{label}: layers[{index}] must be an object with class_name and config")
        _refuse_keras3(entry, f"{label}: layer '{entry['config'].get('name', index)}' ({entry['class_name']})")
    first = layers[0]["config"]
    shape = first.get("batch_input_shape")
    if shape is None and isinstance(first.get("input_shape"), list):
        shape = [None, *first["input_shape"]]
    if (
        not isinstance(shape, list)
        or len(shape) < 2
        or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape[1:])
    ):
        raise TfjsImportError(f"{label}: the first layer has no batch_input_shape")
    if math.prod(shape[1:]) != math.prod(IMAGE_SHAPE):
        raise TfjsImportError(f"{label}: input shape {shape[1:]} does not hold a 28x28 image (784 values)")
    name = config.get("name", "imported") if isinstance(config, dict) else "imported"
    return LayersModel(str(name), tuple(layers), tuple(shape), _groups(raw["weightsManifest"], label), raw)


def _refuse_keras3(entry: Mapping[str, Any], where: str) -> None:
    config = entry.get("config") if isinstance(entry.get("config"), dict) else {}
    marks = [k for k in KERAS3_MARKS if k in entry]
    if "batch_shape" in config:
        marks.append("batch_shape")
    if isinstance(config.get("dtype"), dict):
        marks.append("dtype policy object")
    if marks:
        raise TfjsImportError(
            f"{where}: a Keras 3 config ({', '.join(marks)}), not a TF.js layers model; "
            "TF.js writes Keras 2 style topologies"
        )


def _groups(manifest: Any, label: str) -> tuple[tuple[tuple[str, ...], tuple[WeightSpec, ...]], ...]:
    if not isinstance(manifest, list) or not manifest:
        raise TfjsImportError(f"{label}: weightsManifest must be a non-empty list")
    groups = []
    for g, group in enumerate(manifest):
        paths, weights = (group.get("paths"), group.get("weights")) if isinstance(group, dict) else (None, None)
        if (
            not isinstance(paths, list)
            or not paths
            or not all(isinstance(p, str) and p for p in paths)
            or not isinstance(weights, list)
        ):
            raise TfjsImportError(f"{label}: weightsManifest[{g}] must have 'paths' and 'weights' lists")
        specs = []
        for w in weights:
            if (
                not isinstance(w, dict)
                or not isinstance(w.get("name"), str)
                or not isinstance(w.get("shape"), list)
                or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in w["shape"])
            ):
                raise TfjsImportError(f"{label}: weightsManifest[{g}] has a weight without a name and shape")
            if w.get("dtype", WEIGHT_DTYPE) != WEIGHT_DTYPE or w.get("quantization"):
                raise TfjsImportError(
                    f"{label}: weight '{w['name']}' is {w.get('quantization', {}).get('dtype') or w.get('dtype')}; "
                    "only float32 weights can be imported (save the model unquantised)"
                )
            specs.append(WeightSpec(w["name"], tuple(w["shape"])))
        groups.append((tuple(paths), tuple(specs)))
    return tuple(groups)


def group_bytes(specs: Sequence[WeightSpec]) -> int:
    """How many bytes a weight group's shards hold together."""
    return sum(s.size for s in specs) * 4


def build_keras(parsed: LayersModel) -> keras.Model:
    """The Keras model of a parsed TF.js layers model, with the serving input [None, 28, 28, 1]
    (a Reshape in front when the TF.js model takes another arrangement of the 784 pixels)."""
    import keras

    from .layers import keras_class_by_name

    inputs = keras.Input(shape=IMAGE_SHAPE, name=INPUT_NAME)
    shape = tuple(parsed.batch_input_shape[1:])
    x = inputs if shape == IMAGE_SHAPE else keras.layers.Reshape(shape, name="input_reshape")(inputs)
    for index, entry in enumerate(parsed.layers):
        cls_name = entry["class_name"]
        name = entry["config"].get("name", f"layer_{index}")
        where = f"layer '{name}' ({cls_name})"
        if cls_name not in TFJS_CLASSES:
            reason = REFUSED_CLASSES.get(cls_name, "this layer type cannot be imported")
            raise TfjsImportError(f"{where}: {reason}")
        cls = keras_class_by_name(cls_name)
        try:
            layer = cls(**_keras_arguments(entry["config"], cls_name, where))
            x = layer(x)
        except TfjsImportError:
            raise
        except Exception as exc:  # noqa: BLE001 - Keras raises ValueError, TypeError or backend errors
            from api.messages import first_line

            raise TfjsImportError(f"{where}: Keras cannot build it: {first_line(exc)}") from None
    if tuple(x.shape) != (None, NUM_CLASSES):
        raise TfjsImportError(
            f"the model outputs shape {list(x.shape)}, not [null, {NUM_CLASSES}] (one value per digit)"
        )
    return keras.Model(inputs, x, name=_keras_name(parsed.name))


def _keras_arguments(config: Mapping[str, Any], cls_name: str, where: str) -> dict[str, Any]:
    import inspect

    from .layers import keras_class_by_name

    cls = keras_class_by_name(cls_name)
    accepted = {n for n, p in inspect.signature(cls.__init__).parameters.items() if p.kind is not p.VAR_KEYWORD}
    arguments: dict[str, Any] = {}
    for key, value in config.items():
        if key in INPUT_KEYS or key.endswith(TRAINING_ONLY) or value is None:
            continue
        if key == "dtype":
            if value != WEIGHT_DTYPE:
                raise TfjsImportError(f"{where}: dtype {value!r}; only float32 models can be imported")
            continue
        if key == "name":
            value = _keras_name(str(value))
        if cls_name == "LeakyReLU" and key == "alpha":
            key = "negative_slope"
        if "activation" in key and isinstance(value, str) and value not in TFJS_ACTIVATIONS:
            raise TfjsImportError(f"{where}: activation '{value}' cannot be imported (Keras defines it differently)")
        if key == "implementation":
            continue  # TF.js's choice of kernel arrangement for RNNs: the same computation
        if key not in accepted and key not in ("name", "trainable"):
            raise TfjsImportError(f"{where}: parameter '{key}' is not known to Keras")
        arguments[key] = tuple(value) if isinstance(value, list) and key != "axis" else value
    if cls_name == "GRU":
        arguments["reset_after"] = False  # TF.js's GRU
    return arguments


def _keras_name(name: str) -> str:
    """A name Keras accepts for a layer or model (TF.js allows '/' and others Keras does not)."""
    cleaned = "".join(c if c.isalnum() or c in "_-." else "_" for c in name)
    return cleaned or "imported"


def set_weights(model: keras.Model, parsed: LayersModel, blobs: Sequence[bytes]) -> None:
    """Give `model` (from `build_keras(parsed)`) the weights in `blobs` (one per group, shards joined)."""
    values: dict[str, np.ndarray] = {}
    for (_, specs), blob in zip(parsed.groups, blobs):
        offset = 0
        for spec in specs:
            size = spec.size * 4
            values[spec.name] = np.frombuffer(blob, dtype="<f4", count=spec.size, offset=offset).reshape(spec.shape)
            offset += size
    by_layer = {e["config"].get("name"): _keras_name(str(e["config"].get("name"))) for e in parsed.layers}
    wanted: dict[str, tuple[Any, Any]] = {}
    for tfjs_name, keras_name in by_layer.items():
        layer = model.get_layer(keras_name)
        renames = WEIGHT_RENAMES.get(type(layer).__name__, {})
        for variable in layer.weights:
            weight = variable.name.rsplit("/", 1)[-1]
            wanted[f"{tfjs_name}/{renames.get(weight, weight)}"] = (layer, variable)
    for name, (layer, variable) in wanted.items():
        if name not in values:
            raise TfjsImportError(f"layer '{layer.name}': weight '{name}' is not in the weightsManifest")
        if tuple(values[name].shape) != tuple(variable.shape):
            raise TfjsImportError(
                f"layer '{layer.name}': weight '{name}' has shape {list(values[name].shape)}, "
                f"the layer needs {list(variable.shape)}"
            )
        variable.assign(values[name])
    extra = sorted(set(values) - set(wanted))
    if extra:
        raise TfjsImportError(f"weight '{extra[0]}' belongs to no layer of the topology")
