"""Training configuration: the seed's `config.json` schema, parsed once into a frozen object.

The seed's keys (`epochs`, `batchSize`, `validationSplit`, `savePath`, `layers`) are read verbatim.
Optional keys cover what the seed left implicit; absent, they keep the original demo's behaviour
(rmsprop, categorical cross-entropy, accuracy). Everything is checked here, so code past this point
never looks at the raw dict again. Parsing needs no Keras: layer parameters are checked against
Keras when the trainer builds the network (`layers.build_network`), before any data is read.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from api.messages import did_you_mean
from api.runtime.manifest import LATEST

from .errors import ConfigError

OPTIMIZERS = ("sgd", "momentum", "adam", "adamw", "adadelta", "adagrad", "adamax", "nadam", "rmsprop")
LOSSES = {
    "categoricalCrossentropy": "categorical_crossentropy",
    "sparseCategoricalCrossentropy": "sparse_categorical_crossentropy",
    "meanSquaredError": "mean_squared_error",
}
METRICS = {"accuracy": "accuracy", "acc": "accuracy"}
SCHEDULES = ("cosine", "exponential", "plateau")
MONITORS = ("val_loss", "val_accuracy", "loss", "accuracy")


@dataclass(frozen=True)
class LayerSpec:
    """One entry of `layers`: a TensorFlow.js layer type and its camelCase parameters."""

    type: str
    parameters: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class Augmentation:
    """Random training-time transforms; none of them is part of the exported model."""

    rotation: float = 0.0  # degrees, either way
    zoom: float = 0.0  # fraction, in or out
    translation: float = 0.0  # fraction of the image size, each axis


@dataclass(frozen=True)
class EarlyStopping:
    monitor: str = "val_loss"
    patience: int = 3
    min_delta: float = 0.0
    restore_best_weights: bool = True


@dataclass(frozen=True)
class Schedule:
    """Learning-rate schedule: cosine decay over the run, per-epoch exponential decay, or plateau."""

    type: str
    decay_rate: float = 0.9  # exponential: factor per epoch
    warmup_epochs: int = 0  # cosine: linear warm-up first
    alpha: float = 0.0  # cosine: final learning rate as a fraction of the initial one
    factor: float = 0.5  # plateau
    patience: int = 2  # plateau
    min_learning_rate: float = 1e-6  # plateau


@dataclass(frozen=True)
class TrainConfig:
    epochs: int
    batch_size: int
    validation_split: float
    save_path: str
    layers: tuple[LayerSpec, ...]
    optimizer: str = "rmsprop"
    learning_rate: float | None = None
    loss: str = "categorical_crossentropy"
    metrics: tuple[str, ...] = ("accuracy",)
    seed: int | None = None
    augmentation: Augmentation | None = None
    early_stopping: EarlyStopping | None = None
    schedule: Schedule | None = None
    source: Path | None = None  # the file it came from; savePath is relative to its folder
    label: str = "config"  # how messages name it: the file's name
    raw: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}), compare=False)

    @property
    def export_name(self) -> str:
        return Path(self.save_path).name

    def export_dir(self) -> Path:
        base = self.source.parent if self.source else Path.cwd()
        return (base / self.save_path).resolve()

    def with_overrides(
        self, *, epochs: int | None = None, batch_size: int | None = None, seed: int | None = None
    ) -> TrainConfig:
        """A copy with command-line overrides applied, and `raw` updated to match."""
        changes: dict[str, Any] = {}
        raw = dict(self.raw)
        if seed is not None:
            if not is_int(seed) or seed < 0:
                raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
            changes["seed"] = raw["seed"] = seed
        if epochs is not None:
            _check_positive_int("epochs", epochs)
            changes["epochs"] = raw["epochs"] = epochs
        if batch_size is not None:
            _check_positive_int("batchSize", batch_size)
            changes["batch_size"] = raw["batchSize"] = batch_size
        return replace(self, raw=MappingProxyType(raw), **changes)


def load_config(path: str | Path) -> TrainConfig:
    """Read and validate a config file (structure and values; Keras checks the layers when building)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    return parse_config(raw, source=path.resolve(), label=path.name)


def parse_config(raw: Any, *, source: Path | None = None, label: str = "config") -> TrainConfig:
    """Validate the raw JSON object (structure and values only; Keras checks come later)."""
    try:
        return _parse(raw, source, label)
    except ConfigError as exc:
        raise ConfigError(f"{label}: {exc}") from None


def _parse(raw: Any, source: Path | None, label: str) -> TrainConfig:
    if not isinstance(raw, dict):
        raise ConfigError("the top level must be a JSON object")
    _refuse_unknown("", raw, _TOP_LEVEL_KEYS)
    for key in ("epochs", "batchSize", "validationSplit", "savePath", "layers"):
        if key not in raw:
            raise ConfigError(f"missing required key '{key}'")

    _check_positive_int("epochs", raw["epochs"])
    _check_positive_int("batchSize", raw["batchSize"])
    split = raw["validationSplit"]
    if not _is_number(split) or not 0 <= split < 1:
        raise ConfigError(f"validationSplit must be a number in [0, 1), got {split!r}")
    save_path = raw["savePath"]
    if not isinstance(save_path, str) or not save_path.strip() or Path(save_path).name in ("", ".", "..", LATEST):
        raise ConfigError(f"savePath must name an export folder (not '{LATEST}'), got {save_path!r}")

    optimizer = _choice("optimizer", raw.get("optimizer", "rmsprop"), OPTIMIZERS, normalise=str.lower)
    learning_rate = raw.get("learningRate")
    if learning_rate is not None and (not _is_number(learning_rate) or learning_rate <= 0):
        raise ConfigError(f"learningRate must be a positive number, got {learning_rate!r}")
    loss = LOSSES[_choice("loss", raw.get("loss", "categoricalCrossentropy"), tuple(LOSSES))]
    metrics = raw.get("metrics", ["accuracy"])
    if not isinstance(metrics, list) or not all(isinstance(m, str) for m in metrics):
        raise ConfigError(f"metrics must be a list of names, got {metrics!r}")
    metrics = tuple(dict.fromkeys(METRICS[_choice("metrics", m, tuple(METRICS))] for m in metrics))
    seed = raw.get("seed")
    if seed is not None and (not is_int(seed) or seed < 0):
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")

    return TrainConfig(
        epochs=raw["epochs"],
        batch_size=raw["batchSize"],
        validation_split=float(split),
        save_path=save_path,
        layers=_parse_layers(raw["layers"]),
        optimizer=optimizer,
        learning_rate=None if learning_rate is None else float(learning_rate),
        loss=loss,
        metrics=metrics,
        seed=seed,
        augmentation=_section("augmentation", raw.get("augmentation"), Augmentation, _AUGMENTATION_KEYS),
        early_stopping=_section("earlyStopping", raw.get("earlyStopping"), EarlyStopping, _EARLY_STOPPING_KEYS),
        schedule=_section("learningRateSchedule", raw.get("learningRateSchedule"), Schedule, _SCHEDULE_KEYS),
        source=source,
        label=label,
        raw=MappingProxyType(raw),
    )


def _parse_layers(layers: Any) -> tuple[LayerSpec, ...]:
    if not isinstance(layers, list) or not layers:
        raise ConfigError("layers must be a non-empty list")
    specs = []
    for index, layer in enumerate(layers):
        where = f"layers[{index}]"
        if not isinstance(layer, dict):
            raise ConfigError(f"{where}: must be an object with 'type' and optional 'parameters'")
        _refuse_unknown(where + ".", layer, {"type": None, "parameters": None})
        layer_type = layer.get("type")
        if not isinstance(layer_type, str) or not layer_type:
            raise ConfigError(f"{where}: missing layer 'type'")
        parameters = layer.get("parameters", {})
        if not isinstance(parameters, dict):
            raise ConfigError(f"{where} ({layer_type}): 'parameters' must be an object")
        specs.append(LayerSpec(layer_type, MappingProxyType(dict(parameters))))
    if "inputShape" not in specs[0].parameters and "batchInputShape" not in specs[0].parameters:
        raise ConfigError(f"layers[0] ({specs[0].type}): missing 'inputShape' (the first layer must declare it)")
    return tuple(specs)


# A key's check: returns the value to store or raises ConfigError(message without the key's name).
Check = Callable[[Any], Any]


def _number(low: float, high: float, *, integer: bool = False, low_open: bool = False) -> Check:
    def check(value: Any) -> Any:
        ok = is_int(value) if integer else _is_number(value)
        if not ok or value < low or value > high or (low_open and value == low):
            kind = "an integer" if integer else "a number"
            raise ConfigError(f"must be {kind} in {'(' if low_open else '['}{low}, {high}], got {value!r}")
        return value

    return check


def _one_of(options: tuple[str, ...]) -> Check:
    def check(value: Any) -> Any:
        if value not in options:
            raise ConfigError(f"must be one of {', '.join(options)}; got {value!r}")
        return value

    return check


def _boolean(value: Any) -> Any:
    if not isinstance(value, bool):
        raise ConfigError(f"must be true or false, got {value!r}")
    return value


_TOP_LEVEL_KEYS: dict[str, None] = dict.fromkeys(
    [
        "epochs",
        "batchSize",
        "validationSplit",
        "savePath",
        "layers",
        "optimizer",
        "learningRate",
        "loss",
        "metrics",
        "seed",
        "augmentation",
        "earlyStopping",
        "learningRateSchedule",
    ]
)
_AUGMENTATION_KEYS: dict[str, tuple[str, Check]] = {
    "rotation": ("rotation", _number(0, 180)),
    "zoom": ("zoom", _number(0, 0.9)),
    "translation": ("translation", _number(0, 0.5)),
}
_EARLY_STOPPING_KEYS: dict[str, tuple[str, Check]] = {
    "monitor": ("monitor", _one_of(MONITORS)),
    "patience": ("patience", _number(0, 10_000, integer=True)),
    "minDelta": ("min_delta", _number(0, math.inf)),
    "restoreBestWeights": ("restore_best_weights", _boolean),
}
_SCHEDULE_KEYS: dict[str, tuple[str, Check]] = {
    "type": ("type", _one_of(SCHEDULES)),
    "decayRate": ("decay_rate", _number(0, 1, low_open=True)),
    "warmupEpochs": ("warmup_epochs", _number(0, 10_000, integer=True)),
    "alpha": ("alpha", _number(0, 1)),
    "factor": ("factor", _number(0, 1, low_open=True)),
    "patience": ("patience", _number(0, 10_000, integer=True)),
    "minLearningRate": ("min_learning_rate", _number(0, math.inf)),
}


def _section(name: str, value: Any, cls: type, keys: Mapping[str, tuple[str, Check]]) -> Any:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ConfigError(f"{name} must be an object, got {value!r}")
    _refuse_unknown(name + ".", value, keys)
    if cls is Schedule and "type" not in value:
        raise ConfigError(f"{name}.type is required ({', '.join(SCHEDULES)})")
    fields: dict[str, Any] = {}
    for key, item in value.items():
        attr, check = keys[key]
        try:
            fields[attr] = check(item)
        except ConfigError as exc:
            raise ConfigError(f"{name}.{key} {exc}") from None
    return cls(**fields)


def _refuse_unknown(prefix: str, obj: Mapping[str, Any], known: Mapping[str, Any]) -> None:
    for key in obj:
        if key not in known:
            raise ConfigError(f"unknown key '{prefix}{key}'{did_you_mean(key, known)}")


def _choice(key: str, value: Any, options: tuple[str, ...], normalise: Callable[[str], str] = str) -> str:
    if isinstance(value, str) and normalise(value) in options:
        return normalise(value)
    raise ConfigError(f"{key} must be one of {', '.join(options)}; got {value!r}")


def _check_positive_int(key: str, value: Any) -> None:
    if not is_int(value) or value < 1:
        raise ConfigError(f"{key} must be a positive integer, got {value!r}")


def is_int(value: Any) -> bool:
    """An integer, and not a JSON boolean (which Python counts as one)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
