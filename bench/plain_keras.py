"""The seed's network as a plain Keras script: the baseline `bench/overhead.py` compares against.

Reads the cached MNIST IDX files with numpy alone and uses no code of this project. Prints one JSON
line: {"seconds_per_epoch": [...], "test_accuracy": ...}.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import keras
import numpy as np


def idx(path: Path, header: int) -> np.ndarray:
    return np.frombuffer(path.read_bytes(), dtype=np.uint8, offset=header)


def main(cache: Path, epochs: int) -> None:
    x = idx(cache / "train-images-idx3-ubyte", 16).reshape(-1, 28, 28, 1).astype("float32") / 255
    y = keras.utils.to_categorical(idx(cache / "train-labels-idx1-ubyte", 8), 10).astype("float32")
    x_test = idx(cache / "t10k-images-idx3-ubyte", 16).reshape(-1, 28, 28, 1).astype("float32") / 255
    y_test = keras.utils.to_categorical(idx(cache / "t10k-labels-idx1-ubyte", 8), 10).astype("float32")

    model = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Conv2D(32, 3, activation="relu"),
            keras.layers.Conv2D(32, 3, activation="relu"),
            keras.layers.MaxPooling2D((2, 2)),
            keras.layers.Conv2D(64, 3, activation="relu"),
            keras.layers.Conv2D(64, 3, activation="relu"),
            keras.layers.MaxPooling2D((2, 2)),
            keras.layers.Flatten(),
            keras.layers.Dropout(0.25),
            keras.layers.Dense(512, activation="relu"),
            keras.layers.Dropout(0.5),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])

    times: list[float] = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            times.append(time.perf_counter() - self.start)

    model.fit(x, y, batch_size=128, epochs=epochs, validation_split=0.15, callbacks=[Timer()], verbose=0)
    _, accuracy = model.evaluate(x_test, y_test, batch_size=1000, verbose=0)
    print(json.dumps({"seconds_per_epoch": times, "test_accuracy": accuracy}))


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]))
