"""The number reader: a fully convolutional network trained with CTC on synthetic lines of digits.

Built from `ml_model/reader.json` (the original's config schema: TF.js layer names, camelCase
parameters, the same loader and checks as `config.json`), it reads a line of any width, `[N, 32, W,
1]`, and gives a distribution over the ten digits and the blank per column step (`api.runtime.manifest`,
READER_*). Its training lines are composed on the fly, seeded, from MNIST's *training* digits and
other writers' (`ml_model.corpus.lines`), and go through the very function the API reads pictures
with (`api.pictures.line.to_line`): the reader sees in training what it sees in the Lambda. It is
measured on lines composed from MNIST's *test* digits, which training never sees, through the
API's own reader runtime (`api.runtime.reader`), and exported as `reader.tflite` beside the digit
model, so one `MODEL_URL` serves digits and numbers.

Beside it goes `reader-int8.tflite`: full-integer quantisation (int8 weights and activations, every op
an integer kernel, float32 in and out, the input's width still resized per line), calibrated on
lines composed from the *training* digits, and measured beside the float reader on the same held-out
lines (`variants` in the reader's manifest section; MODEL_PRECISION picks, `api.runtime.manifest`).
It is quantised from `reader.tflite` itself, with the two steps TFLiteConverter runs after its float
conversion when given a representative dataset (calibration, then the MLIR quantiser), so an export
that carries only `reader.tflite` gains the same int8 reader without its Keras model
(`python -m ml_model quantize`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from api.errors import InvalidRequest
from api.pictures.line import to_line
from api.runtime.manifest import (
    BLANK,
    FLOAT32,
    INT8,
    LABELS,
    READER_CLASSES,
    READER_HEIGHT,
    READER_INPUT,
    READER_VARIANT_ARTIFACTS,
    READER_VARIANT_FILES,
    READER_WIDTH_MULTIPLE,
)

from .config import TrainConfig, load_config
from .corpus.lines import LineGenerator
from .errors import ExportError
from .layers import READER_CONTRACT, build_network
from .model import make_optimizer

if TYPE_CHECKING:
    import keras

log = logging.getLogger(__name__)

READER_CONFIG = Path(__file__).with_name("reader.json")
MAX_LABEL = 10  # digits per training line (the generator's longest)
TRAIN_LINES = 24_000  # composed per epoch; `python -m ml_model train --reader-lines N` changes it
TEST_LINES = 1_000  # composed from MNIST's test digits, to measure the exported reader
FLOOR = 1e-7  # probabilities are floored here before their log
POOL = 8  # training batches composed together and batched by width
PREFETCH = 2 * POOL  # batches ready ahead of the step: the next pool is composed while this one trains
CALIBRATION_LINES = 300  # training lines of 1-10 digits the int8 reader's activation ranges are taken on
CALIBRATION_SEED = 2027  # not a training pool's seed (those are [config seed, index])


@dataclass(frozen=True)
class ReaderResult:
    model: Any  # keras.Model
    history: dict[str, list[float]]
    seconds: float
    lines: int  # training lines seen


def load_reader_config(path: str | Path = READER_CONFIG) -> TrainConfig:
    return load_config(path)


def build_reader(config: TrainConfig) -> keras.Model:
    """The reader's network from its config: the config's layers, checked against the reader's contract."""
    return build_network(config, READER_CONTRACT)


def draw(generator: LineGenerator, rng: np.random.Generator, size: int) -> tuple[list[np.ndarray], list[str]]:
    """`size` composed lines through `to_line`, and their labels; a picture the API would refuse is drawn again."""
    lines, labels = [], []
    while len(lines) < size:
        composed = generator.line(rng)
        try:
            lines.append(to_line(composed.picture).image)
        except InvalidRequest:
            continue
        labels.append(composed.label)
    return lines, labels


def batch(lines: list[np.ndarray], labels: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Lines (from `to_line`) padded to one width, and their labels padded with -1."""
    width = max(line.shape[1] for line in lines)
    width += -width % READER_WIDTH_MULTIPLE
    x = np.zeros((len(lines), READER_HEIGHT, width, 1), np.float32)
    for i, line in enumerate(lines):
        x[i, :, : line.shape[1], 0] = line
    y = np.full((len(labels), MAX_LABEL), -1, np.int32)
    for i, label in enumerate(labels):
        y[i, : len(label)] = [int(c) for c in label]
    return x, y


def ctc_loss(y_true: Any, y_pred: Any) -> Any:
    """CTC loss of per-step probabilities `y_pred` [N, steps, 11] against digit labels padded with -1."""
    from keras import ops

    y_true = ops.cast(y_true, "int32")
    present = ops.cast(y_true >= 0, "int32")
    lengths = ops.sum(present, axis=1)
    target = y_true * present
    steps = ops.full((ops.shape(y_pred)[0],), ops.shape(y_pred)[1], dtype="int32")
    logits = ops.log(ops.clip(y_pred, FLOOR, 1.0))  # log-probabilities are logits of the same softmax
    return ops.ctc_loss(target, logits, lengths, steps, mask_index=BLANK)


def by_width(
    lines: list[np.ndarray], labels: list[str], size: int, rng: np.random.Generator
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Lines and labels batched `size` at a time by width (sorted, then cut), the batches in a random order.

    A batch is padded to its widest line, and lines of one to ten digits differ fourfold in width: batched
    at random, about half the reader's arithmetic goes on padding; batched by width from eight batches'
    worth, about a tenth (0.47 and 0.89 of the padded columns are a line's, measured on composed lines)."""
    order = np.argsort([line.shape[1] for line in lines], kind="stable")
    cuts = [order[i : i + size] for i in range(0, len(order), size)]
    return [batch([lines[i] for i in cuts[k]], [labels[i] for i in cuts[k]]) for k in rng.permutation(len(cuts))]


def line_batches(generator: LineGenerator, size: int, count: int | None, seed: int) -> Any:
    """A dataset of batches of `size` lines: `count` batches, then the same ones again (validation), or (None)
    new ones for ever (training: every epoch sees new lines). Lines are composed POOL batches' worth at a
    time, each pool from its own seed, and batched by width (`by_width`).

    PREFETCH holds a whole pool ahead of the train step, so the generator composes the next pool while
    the step trains on this one. With two batches ahead, a pool's composing (about 2 s) stalled the step
    once it had run through them, and the generator then waited while the step ran through the other
    six: the two alternated more than they overlapped (the same batches, about 15 % slower side by side)."""
    import tensorflow as tf

    def batches() -> Any:
        index = 0
        while count is None or index * POOL < count:
            rng = np.random.default_rng([seed, index])
            yield from by_width(*draw(generator, rng, size * POOL), size, rng)
            index += 1

    signature = (tf.TensorSpec([None, READER_HEIGHT, None, 1], tf.float32), tf.TensorSpec([None, MAX_LABEL], tf.int32))
    dataset = tf.data.Dataset.from_generator(batches, output_signature=signature)
    if count is not None:
        dataset = dataset.take(count).cache()  # the same batches every epoch
    return dataset.prefetch(PREFETCH)


def train_reader(
    config: TrainConfig,
    digits: np.ndarray,
    labels: np.ndarray,
    *,
    writers: tuple[np.ndarray, np.ndarray] | None = None,
    lines: int = TRAIN_LINES,
    callbacks: list[Any] | None = None,
) -> ReaderResult:
    """Train the reader on `lines` composed lines per epoch of `digits` (MNIST's training digits)."""
    import keras

    if config.seed is not None:
        keras.utils.set_random_seed(config.seed)
    network = build_reader(config)
    generator = LineGenerator(digits, labels, writers=writers, max_digits=MAX_LABEL)
    seed = config.seed or 0
    steps = max(1, lines // config.batch_size)
    val_steps = max(1, int(round(steps * config.validation_split))) if config.validation_split else 0
    network.compile(optimizer=make_optimizer(config, steps), loss=ctc_loss)
    log.info(
        "Training the number reader: %d lines per epoch, %d epochs, batch %d", lines, config.epochs, config.batch_size
    )
    started = time.perf_counter()
    fitted = network.fit(
        line_batches(generator, config.batch_size, None, seed),
        epochs=config.epochs,
        steps_per_epoch=steps,
        validation_data=line_batches(generator, config.batch_size, val_steps, seed + 1) if val_steps else None,
        validation_steps=val_steps or None,
        shuffle=False,  # every batch is new: there is nothing to shuffle
        callbacks=callbacks or [],
        verbose=0,
    )
    history = {k: [float(v) for v in vs] for k, vs in fitted.history.items()}
    return ReaderResult(network, history, time.perf_counter() - started, steps * config.batch_size * config.epochs)


def convert_reader(model: keras.Model, path: Path) -> None:
    """`model` as a float32 `.tflite` whose input width is resized per line (builtin ops only)."""
    import tempfile

    import tensorflow as tf

    spec = tf.TensorSpec([1, READER_HEIGHT, None, 1], tf.float32)
    with tempfile.TemporaryDirectory() as folder:
        model.export(folder, format="tf_saved_model", input_signature=[spec], verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(folder)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        path.write_bytes(converter.convert())


def held_out_lines(digits: np.ndarray, labels: np.ndarray, count: int = TEST_LINES, seed: int = 0) -> list[Any]:
    """`count` lines composed from `digits` (MNIST's test digits: never seen in training), seeded."""
    generator = LineGenerator(digits, labels, max_digits=MAX_LABEL)
    rng = np.random.default_rng([seed, 2026])
    return [generator.line(rng) for _ in range(count)]


def measure(paths: Mapping[str, Path], lines: list[Any]) -> dict[str, dict[str, Any]]:
    """String accuracy and per-line time of each exported reader (precision → its `.tflite`) on `lines`,
    through the API's runtime; the readers take turns on each line, so a busy machine slows them alike."""
    from api.pictures.reading import read_line
    from api.runtime.reader import LiteRTReader

    readers = {precision: LiteRTReader(path) for precision, path in paths.items()}
    right = dict.fromkeys(readers, 0)
    times: dict[str, list[float]] = {precision: [] for precision in readers}
    for line in lines:
        for precision, reader in readers.items():
            started = time.perf_counter()
            try:
                digits = read_line(to_line(line.picture), reader.run, reader.stride)
            except InvalidRequest:  # read as no number at all: a miss
                digits = []
            times[precision].append(time.perf_counter() - started)
            right[precision] += "".join(str(int(d.probabilities.argmax())) for d in digits) == line.label
    return {
        precision: {
            "lineAccuracy": round(right[precision] / len(lines), 4),
            "lines": len(lines),
            "msPerLine": round(1000 * float(np.median(times[precision])), 3),
            "classes": READER_CLASSES,
        }
        for precision in readers
    }


def calibration_lines(digits: np.ndarray, labels: np.ndarray) -> list[np.ndarray]:
    """CALIBRATION_LINES lines composed from `digits` (MNIST's *training* digits), seeded, as the runtime
    feeds them (`api.runtime.reader.padded`): widths of one to ten digits, as served lines have."""
    from api.runtime.reader import padded

    generator = LineGenerator(digits, labels, max_digits=MAX_LABEL)
    lines, _ = draw(generator, np.random.default_rng(CALIBRATION_SEED), CALIBRATION_LINES)
    return [padded(line) for line in lines]


def quantise_reader(source: Path, path: Path, calibration: list[np.ndarray]) -> None:
    """Write the full-integer int8 model of the float reader `source` to `path`: calibrated on
    `calibration` (lines as the runtime feeds them), float32 in and out, the input's width dynamic.

    These are TFLiteConverter's own post-training steps (`lite.py`, `_quantize`: intermediate tensors,
    calibration, `mlir_quantize`), run on the float `.tflite` rather than on a conversion of the Keras
    model, which an export does not keep. Nothing here forbids a float kernel as `TFLITE_BUILTINS_INT8`
    does in the converter, so `check_integer` does: the export fails rather than carry one."""
    import tensorflow as tf
    from tensorflow.lite.python.convert import mlir_quantize
    from tensorflow.lite.python.optimize import calibrator

    def representative() -> Any:
        for line in calibration:
            yield [line]

    model = calibrator.add_intermediate_tensors(source.read_bytes())
    calibrated = calibrator.Calibrator(model).calibrate(representative)
    quantised = mlir_quantize(calibrated, input_data_type=tf.float32, output_data_type=tf.float32)
    check_integer(quantised, source)
    path.write_bytes(quantised)


def check_integer(model: bytes, source: Path) -> None:
    """ExportError unless every tensor but the model's float32 input and output is an integer one, and
    the input's width is still resized per line."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        from tensorflow.lite import Interpreter  # the same interpreter, inside TensorFlow

    interpreter = Interpreter(model_content=model)
    line, steps = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    floats = [
        t["name"]
        for t in interpreter.get_tensor_details()
        if t["dtype"] == np.float32 and t["index"] not in (line["index"], steps["index"])
    ]
    if floats:
        raise ExportError(f"{source.name}: its int8 model keeps {len(floats)} float tensors, the first {floats[0]!r}")
    if list(line["shape_signature"]) != [1, READER_HEIGHT, -1, 1]:
        shape = list(line["shape_signature"])
        raise ExportError(f"{source.name}: its int8 model's input is {shape}, not [1, {READER_HEIGHT}, -1, 1]")


def add_int8(folder: Path, mnist: Any, test_count: int = TEST_LINES) -> dict[str, dict[str, Any]]:
    """Write `reader-int8.tflite` beside `folder`'s `reader.tflite` (calibrated on MNIST's training digits)
    and measure both on `test_count` held-out lines: the reader section's `variants`."""
    files = {precision: folder / name for precision, name in READER_VARIANT_FILES.items()}
    quantise_reader(files[FLOAT32], files[INT8], calibration_lines(mnist.train_images, mnist.train_labels))
    metrics = measure(files, held_out_lines(mnist.test_images, mnist.test_labels, test_count))
    for precision, scores in metrics.items():
        log.info(
            "Number reader %-7s %.1f %% of %d test lines read right, %.2f ms a line, %d bytes",
            precision,
            100 * scores["lineAccuracy"],
            scores["lines"],
            scores["msPerLine"],
            files[precision].stat().st_size,
        )
    return {
        precision: {"artifact": READER_VARIANT_ARTIFACTS[precision], **scores} for precision, scores in metrics.items()
    }


def train_into(
    config: TrainConfig,
    mnist: Any,
    folder: Path,
    *,
    lines: int = TRAIN_LINES,
    callbacks: list[Any] | None = None,
    test_count: int = TEST_LINES,
    writers: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[dict[str, Path], dict[str, Any]]:
    """Train the reader on MNIST's training digits and other `writers`' (`corpus.writers`), write
    `reader.tflite` and `reader-int8.tflite` into `folder` and measure them on lines of MNIST's test
    digits: (their paths by precision, the manifest section)."""
    from api.runtime.reader import LiteRTReader

    result = train_reader(
        config, mnist.train_images, mnist.train_labels, writers=writers, lines=lines, callbacks=callbacks
    )
    convert_reader(result.model, folder / READER_VARIANT_FILES[FLOAT32])
    variants = add_int8(folder, mnist, test_count)
    section = {
        "input": {
            "name": READER_INPUT,
            "shape": [1, READER_HEIGHT, None, 1],
            "dtype": "float32",
            "range": [0.0, 1.0],
            "layout": "NHWC: one line of ink, light on dark, any width (api.pictures.line.to_line)",
        },
        "output": {
            "shape": [1, None, READER_CLASSES],
            "classes": [*LABELS, "blank"],
            "stride": LiteRTReader(folder / READER_VARIANT_FILES[FLOAT32]).stride,
        },
        "config": dict(config.raw),
        "metrics": {"test": {k: v for k, v in variants[FLOAT32].items() if k != "artifact"}},
        "variants": variants,
        "training": {
            "seconds": round(result.seconds, 1),
            "lines": result.lines,
            "epochs": len(result.history.get("loss", [])),
            "mnistTrainingDigits": len(mnist.train_images),
            "otherWritersDigits": 0 if writers is None else len(writers[1]),
        },
    }
    return {precision: folder / name for precision, name in READER_VARIANT_FILES.items()}, section
