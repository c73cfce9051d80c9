"""The network's training setup: the config's optimizer, learning-rate schedule, loss and metrics.

The network itself is built from the config's layers by `layers.build_network`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .config import TrainConfig

if TYPE_CHECKING:
    import keras

DEFAULT_LEARNING_RATES = {"sgd": 0.01, "momentum": 0.01, "adadelta": 1.0}


def learning_rate(config: TrainConfig) -> float:
    if config.learning_rate is not None:
        return config.learning_rate
    return DEFAULT_LEARNING_RATES.get(config.optimizer, 0.001)


def make_optimizer(config: TrainConfig, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    import keras

    rate: Any = learning_rate(config)
    schedule = config.schedule
    if schedule is not None and schedule.type == "cosine":
        warmup = schedule.warmup_epochs * steps_per_epoch
        decay = max(1, config.epochs * steps_per_epoch - warmup)
        rate = keras.optimizers.schedules.CosineDecay(
            initial_learning_rate=rate / 10 if warmup else rate,
            decay_steps=decay,
            alpha=schedule.alpha,
            warmup_target=rate if warmup else None,
            warmup_steps=warmup,
        )
    elif schedule is not None and schedule.type == "exponential":
        rate = keras.optimizers.schedules.ExponentialDecay(
            rate, decay_steps=steps_per_epoch, decay_rate=schedule.decay_rate, staircase=True
        )
    if config.optimizer == "momentum":
        return keras.optimizers.SGD(learning_rate=rate, momentum=0.9, nesterov=True)
    return keras.optimizers.get({"class_name": config.optimizer, "config": {"learning_rate": rate}})


def compile_model(model: keras.Model, config: TrainConfig, steps_per_epoch: int = 1) -> keras.Model:
    """`model` (the config's built network) compiled with the config's optimizer, loss and metrics."""
    model.compile(optimizer=make_optimizer(config, steps_per_epoch), loss=config.loss, metrics=list(config.metrics))
    return model
