"""Training: Keras `fit` on MNIST as the config says, test-set evaluation, then export."""

from __future__ import annotations

import functools
import logging
import resource
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from api.runtime.manifest import NUM_CLASSES

from .config import TrainConfig
from .corpus.writers import semeion
from .data import Mnist, load_mnist, to_model_input
from .export import export_model
from .layers import build_network
from .model import compile_model
from .reader import TRAIN_LINES, build_reader, train_into
from .tfjs import model_topology

if TYPE_CHECKING:
    import keras
    import tensorflow as tf

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainResult:
    export_dir: Path
    metrics: dict[str, float]  # test-set loss and accuracy
    history: dict[str, list[float]]
    seconds_per_epoch: list[float]
    peak_memory_mb: float


def targets(labels: np.ndarray, loss: str) -> np.ndarray:
    """Labels as the loss wants them: integers for the sparse loss, one-hot otherwise."""
    if loss.startswith("sparse"):
        return labels.astype(np.int32)
    return np.eye(NUM_CLASSES, dtype=np.float32)[labels]


def train(
    config: TrainConfig,
    *,
    mnist: Mnist | None = None,
    data_dir: str | Path | None = None,
    cache_dir: str | Path | None = None,
    export_dir: str | Path | None = None,
    progress: bool | None = None,
    reader: TrainConfig | None = None,
    reader_lines: int | None = None,
) -> TrainResult:
    """Train the config's network, evaluate it on the test set, export it; returns what happened.

    The network is built first, so a config Keras (or the TF.js export) rejects is refused before any
    data is read. With `reader` (`ml_model/reader.json`), the number reader is trained after it, on
    `reader_lines` composed lines per epoch, into the same export (`ml_model.reader`).
    """
    import keras

    if config.seed is not None:  # before building: the seed fixes the initial weights
        keras.utils.set_random_seed(config.seed)
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    network = build_network(config)
    model_topology(network)  # every export carries a TF.js model: refuse a layer it cannot hold now, not after training
    if reader is not None:
        build_reader(reader)  # a reader config Keras rejects is refused before any training too
    if mnist is None:
        mnist = load_mnist(data_dir, cache_dir)

    x = to_model_input(mnist.train_images)
    y = targets(mnist.train_labels, config.loss)
    # The last fraction is held out, as Keras's validation_split does.
    n_train = len(x) - int(round(len(x) * config.validation_split))
    x_train, y_train, x_val, y_val = x[:n_train], y[:n_train], x[n_train:], y[n_train:]
    steps = -(-n_train // config.batch_size)

    model = compile_model(network, config, steps_per_epoch=steps)
    epoch_times: list[float] = []
    callbacks = _callbacks(config, steps, epoch_times, progress)
    validation = (x_val, y_val) if len(x_val) else None
    if config.augmentation is not None:
        inputs: Any = _augmented(x_train, y_train, config)
        fit_args: dict[str, Any] = {"shuffle": False}  # the dataset reshuffles every epoch itself
    else:
        inputs, fit_args = x_train, {"y": y_train, "batch_size": config.batch_size, "shuffle": True}
    log.info(
        "Training %s: %d images (%d held out for validation), %d epochs, batch %d",
        config.export_name,
        n_train,
        len(x_val),
        config.epochs,
        config.batch_size,
    )
    fitted = model.fit(
        inputs, epochs=config.epochs, validation_data=validation, callbacks=callbacks, verbose=0, **fit_args
    )
    history = {k: [float(v) for v in vs] for k, vs in fitted.history.items()}

    metrics = _test_metrics(model, mnist, config.loss)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    training = {
        "epochs": len(epoch_times),
        "seconds": round(sum(epoch_times), 2),
        "secondsPerEpoch": [round(t, 2) for t in epoch_times],
        "peakMemoryMB": round(peak_mb, 1),
        "trainImages": n_train,
        "validationImages": int(len(x_val)),
    }
    out = Path(export_dir) if export_dir else config.export_dir()
    with tempfile.TemporaryDirectory() as folder:
        reader_files = None
        if reader is not None:
            reader_times: list[float] = []
            steps = max(1, (reader_lines or TRAIN_LINES) // reader.batch_size)
            report = EpochReport(reader.epochs, steps, reader_times, progress)
            reader_files = train_into(
                reader,
                mnist,
                Path(folder),
                lines=reader_lines or TRAIN_LINES,
                callbacks=[report],
                writers=semeion("train"),  # writers unlike MNIST's (Semeion's held-out ones are the benchmark's)
            )
        export_model(
            model,
            out,
            config=config.raw,
            metrics=metrics,
            history=history,
            training=training,
            mnist=mnist,
            reader=reader_files,
        )
    return TrainResult(out, metrics, history, epoch_times, peak_mb)


def _test_metrics(model: keras.Model, mnist: Mnist, loss: str) -> dict[str, Any]:
    """Loss and accuracy on the MNIST test set, which training never sees."""
    scores = model.evaluate(
        to_model_input(mnist.test_images),
        targets(mnist.test_labels, loss),
        batch_size=1000,
        verbose=0,
        return_dict=True,
    )
    metrics = {
        "loss": float(scores["loss"]),
        "accuracy": float(scores.get("accuracy", float("nan"))),
        "count": int(len(mnist.test_images)),
    }
    log.info("Test: loss %.4f, accuracy %.4f (%d images)", metrics["loss"], metrics["accuracy"], metrics["count"])
    return metrics


def _augmented(x: np.ndarray, y: np.ndarray, config: TrainConfig) -> tf.data.Dataset:
    """A shuffled, batched dataset with the config's random transforms (outside the model)."""
    import keras
    import tensorflow as tf

    aug = config.augmentation
    assert aug is not None
    layers = []
    if aug.rotation:
        layers.append(keras.layers.RandomRotation(aug.rotation / 360.0, fill_mode="constant", seed=config.seed))
    if aug.zoom:
        layers.append(keras.layers.RandomZoom(aug.zoom, fill_mode="constant", seed=config.seed))
    if aug.translation:
        layers.append(
            keras.layers.RandomTranslation(aug.translation, aug.translation, fill_mode="constant", seed=config.seed)
        )
    transform = keras.Sequential(layers)
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(
        len(x), seed=config.seed, reshuffle_each_iteration=True
    )
    dataset = dataset.batch(config.batch_size)
    if layers:
        dataset = dataset.map(lambda a, b: (transform(a, training=True), b), num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.prefetch(tf.data.AUTOTUNE)


def _callbacks(
    config: TrainConfig, steps: int, epoch_times: list[float], progress: bool | None
) -> list[keras.callbacks.Callback]:
    import keras

    callbacks: list[keras.callbacks.Callback] = [EpochReport(config.epochs, steps, epoch_times, progress)]
    if config.early_stopping is not None:
        es = config.early_stopping
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor=es.monitor,
                patience=es.patience,
                min_delta=es.min_delta,
                restore_best_weights=es.restore_best_weights,
                verbose=0,
            )
        )
    if config.schedule is not None and config.schedule.type == "plateau":
        s = config.schedule
        callbacks.append(
            keras.callbacks.ReduceLROnPlateau(
                monitor="val_loss", factor=s.factor, patience=s.patience, min_lr=s.min_learning_rate, verbose=0
            )
        )
    return callbacks


@functools.cache
def _make_epoch_report() -> type:
    import keras

    class _EpochReport(keras.callbacks.Callback):
        """A progress bar over each epoch's batches and one log line per epoch."""

        # Batch hooks may run on Keras's dispatch thread: a callback that is not marked safe for that
        # makes Keras wait for every batch's metrics, which costs several percent of an epoch.
        async_safe = True

        def __init__(self, epochs: int, steps: int, times: list[float], progress: bool | None) -> None:
            super().__init__()
            self.epochs, self.steps, self.times = epochs, steps, times
            self.show_bar = sys.stderr.isatty() if progress is None else progress
            self._bar: Any = None
            self._start = 0.0

        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            self._start = time.perf_counter()
            if self.show_bar:
                from tqdm import tqdm

                self._bar = tqdm(
                    total=self.steps,
                    desc=f"epoch {epoch + 1}/{self.epochs}",
                    unit="batch",
                    leave=False,
                    file=sys.stderr,
                )

        def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
            bar = self._bar  # read once: on_epoch_end may clear it from the main thread
            if bar is not None:
                bar.update(1)
                if logs and batch % 20 == 0:
                    bar.set_postfix(loss=f"{logs.get('loss', 0):.4f}", acc=f"{logs.get('accuracy', 0):.4f}")

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            elapsed = time.perf_counter() - self._start
            self.times.append(elapsed)
            if self._bar is not None:
                self._bar.close()
                self._bar = None
            logs = logs or {}
            parts = [f"{k} {logs[k]:.4f}" for k in ("loss", "accuracy", "val_loss", "val_accuracy") if k in logs]
            log.info("epoch %d/%d  %s  %.1fs", epoch + 1, self.epochs, "  ".join(parts), elapsed)

    return _EpochReport


def EpochReport(epochs: int, steps: int, times: list[float], progress: bool | None) -> keras.callbacks.Callback:
    """The class is built once, on first use, so that importing this module does not import Keras."""
    return _make_epoch_report()(epochs, steps, times, progress)
