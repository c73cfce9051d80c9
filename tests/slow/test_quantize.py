"""The fast paths give the plain path's answers: quantised models, big batches, more threads.

Measured tolerances, on the trained test export and the whole MNIST test set (10,000 images),
against the float32 `.tflite`. The test export is trained here, and another machine or library
version trains another model, so the bounds rest on the spread over training runs
(`python bench/seed_spread.py`, seeds 1-7 of the suite's config; BENCHMARKS.md): float16 names the
same digit on 99.99-100 % of the images and moves no probability by more than 0.0010; int8 agrees
on 99.79-99.91 % and moves probabilities by at most 0.061 (its output is quantised to steps of
1/256; 0.07 on the seed network). The bounds sit well outside that: float16 99.9 % and 0.01; int8
99.6 % (twice the worst run's disagreements) and 0.15. A batch, and more interpreter threads, give
float32's probabilities to 1e-5 (the same model: no training luck in it).

Which variant the API serves, on fake manifests: tests/unit/test_quantize.py. An export from before
quantisation (and before the int8 reader) gains its variants, the reader's included.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from api import handler
from api.errors import ModelUnavailable
from api.runtime.manifest import MANIFEST_NAME, parse_manifest
from api.runtime.model_store import ModelStore
from api.runtime.predictor import LiteRTPredictor, open_export
from api.runtime.settings import Settings
from tests.support.api_support import http_event, serving

AGREEMENT = {"float16": 0.999, "int8": 0.996}
PROBABILITY_TOLERANCE = {"float16": 0.01, "int8": 0.15}
SAME_MODEL_TOLERANCE = 1e-5


# ---------------------------------------------------------------------------------------------
# The quantised models on the real test set


@pytest.fixture(scope="module")
def test_set(real_mnist) -> tuple[np.ndarray, np.ndarray]:
    return real_mnist.test_images[..., np.newaxis].astype(np.float32) / 255.0, real_mnist.test_labels


@pytest.fixture(scope="module")
def float32_probabilities(mnist_export: Path, test_set) -> np.ndarray:
    return open_export(mnist_export, "tflite", "float32").predict(test_set[0])


@pytest.mark.parametrize("precision", ["float16", "int8"])
def test_quantised_models_agree_with_float32(
    mnist_export: Path, test_set, float32_probabilities: np.ndarray, precision: str
) -> None:
    images, labels = test_set
    probabilities = open_export(mnist_export, "tflite", precision).predict(images)
    agreement = float(np.mean(probabilities.argmax(1) == float32_probabilities.argmax(1)))
    assert agreement >= AGREEMENT[precision], agreement
    assert np.max(np.abs(probabilities - float32_probabilities)) <= PROBABILITY_TOLERANCE[precision]
    # What the manifest recorded is what the model does.
    entry = parse_manifest((mnist_export / MANIFEST_NAME).read_bytes()).variants[precision]
    assert abs(entry.accuracy - float(np.mean(probabilities.argmax(1) == labels))) < 1e-9


def test_batches_and_threads_give_the_single_image_answers(
    mnist_export: Path, test_set, float32_probabilities: np.ndarray
) -> None:
    images = test_set[0][:256]
    one_thread = LiteRTPredictor(mnist_export / "model.tflite", num_threads=1)
    singles = np.concatenate([one_thread.predict(image[np.newaxis]) for image in images])
    np.testing.assert_allclose(singles, float32_probabilities[:256], atol=SAME_MODEL_TOLERANCE)
    two_threads = LiteRTPredictor(mnist_export / "model.tflite", num_threads=2)
    np.testing.assert_allclose(two_threads.predict(images), singles, atol=SAME_MODEL_TOLERANCE)


# ---------------------------------------------------------------------------------------------
# The API: precision chosen, 256 images in one forward pass


def test_a_batch_of_arrays_is_read_as_each_image_alone(real_mnist) -> None:
    from api.app.http import parse_event
    from api.app.inputs import read_inputs
    from api.pictures.images import from_array

    digits = real_mnist.test_images[:256]
    # Every array form: 28x28 rows, 784 numbers, 28x28x1, and 0-1 floats.
    items = [
        d.tolist()
        if i % 4 == 0
        else d.ravel().tolist()
        if i % 4 == 1
        else d[..., None].tolist()
        if i % 4 == 2
        else (d / 255.0).tolist()
        for i, d in enumerate(digits)
    ]
    expected = np.stack([from_array(item) for item in items])[..., np.newaxis]
    fast = read_inputs(parse_event(http_event(body={"images": items}), None), 256).batch
    assert fast.dtype == np.float32 and np.array_equal(fast, expected)
    # A batch the one-step path cannot take (here one bad row) is read image by image, and the error names it.
    items[7] = [1, 2, 3]
    with pytest.raises(Exception, match=r"images\[7\]: an image array must be 28x28"):
        read_inputs(parse_event(http_event(body={"images": items}), None), 256)


class CountingPredictor:
    """The real predictor, counting its forward passes."""

    def __init__(self, predictor: Any) -> None:
        self.predictor, self.runtime, self.calls = predictor, predictor.runtime, []

    def predict(self, batch: np.ndarray) -> np.ndarray:
        self.calls.append(len(batch))
        return self.predictor.predict(batch)


def test_a_batch_of_256_is_one_forward_pass_with_the_single_answers(
    mnist_export: Path, real_mnist, tmp_path: Path, float32_probabilities: np.ndarray
) -> None:
    settings = Settings.from_env(
        {"MODEL_URL": str(mnist_export), "MODEL_CACHE_DIR": str(tmp_path), "MODEL_PRECISION": "float32"}
    )
    store = ModelStore(settings)
    model = store.model()
    counting = CountingPredictor(model.predictor)
    object.__setattr__(model, "predictor", counting)
    with serving(store):
        images = real_mnist.test_images[:256].tolist()
        response = handler.get_number_prediction(http_event(body={"images": images}), None)
        assert response["statusCode"] == 200, response["body"]
        answers = json.loads(response["body"])["predictions"]
        assert counting.calls == [256]
        got = np.array([a["probabilities"] for a in answers])
        np.testing.assert_allclose(got, float32_probabilities[:256], atol=1e-5)  # rounded to 6 decimals
        too_many = handler.get_number_prediction(http_event(body={"images": images + images[:1]}), None)
        assert too_many["statusCode"] == 413 and "at most 256" in too_many["body"]


def test_model_precision_picks_the_artifact(mnist_export: Path, tmp_path: Path) -> None:
    for precision in ("float32", "float16", "int8"):
        store = ModelStore(
            Settings.from_env(
                {
                    "MODEL_URL": str(mnist_export),
                    "MODEL_CACHE_DIR": str(tmp_path),
                    "MODEL_PRECISION": precision,
                    "MODEL_THREADS": "1",
                }
            )
        )
        model = store.model()
        assert model.info["precision"] == precision
        digest = model.manifest.artifact({"float32": "tflite"}.get(precision, f"tflite_{precision}")).sha256
        assert (tmp_path / f"{digest}.tflite").is_file()
    savedmodel_int8 = ModelStore(
        Settings.from_env(
            {
                "MODEL_URL": str(mnist_export),
                "MODEL_CACHE_DIR": str(tmp_path),
                "MODEL_PRECISION": "int8",
                "MODEL_RUNTIME": "savedmodel",
            }
        )
    )
    with pytest.raises(ModelUnavailable, match="MODEL_PRECISION=int8 needs MODEL_RUNTIME=tflite"):
        savedmodel_int8.model()


def test_an_export_from_before_quantisation_loads_and_can_be_quantised(
    mnist_export: Path, real_mnist, tmp_path: Path
) -> None:
    from ml_model.artifacts import verify_export
    from ml_model.quantize import quantize_export

    old = tmp_path / "exports" / "old"
    shutil.copytree(mnist_export, old, ignore=shutil.ignore_patterns("model-*.tflite", "reader-int8.tflite"))
    raw = json.loads((old / MANIFEST_NAME).read_text())
    del raw["variants"], raw["artifacts"]["tflite_float16"], raw["artifacts"]["tflite_int8"]
    del raw["artifacts"]["reader_int8"], raw["reader"]["variants"]  # a reader from before its int8 model
    (old / MANIFEST_NAME).write_text(json.dumps(raw))
    store = ModelStore(Settings.from_env({"MODEL_URL": str(old), "MODEL_CACHE_DIR": str(tmp_path / "cache")}))
    assert store.model().info["precision"] == "float32"
    with pytest.raises(ModelUnavailable, match="no int8 variant"):
        ModelStore(
            Settings.from_env(
                {"MODEL_URL": str(old), "MODEL_CACHE_DIR": str(tmp_path / "cache"), "MODEL_PRECISION": "int8"}
            )
        ).model()

    out = quantize_export(old, tmp_path / "exports" / "new", mnist=real_mnist)
    manifest = verify_export(out)
    assert set(manifest.variants) == {"float32", "float16", "int8"}
    # The reader gained its int8 model, quantised from reader.tflite and measured beside it on held-out lines.
    assert set(manifest.reader_variants) == {"float32", "int8"}
    assert manifest.artifact("reader_int8").path == "reader-int8.tflite"
    assert (out / "reader.tflite").read_bytes() == (old / "reader.tflite").read_bytes()
    section = manifest.raw["reader"]
    assert section["metrics"] == raw["reader"]["metrics"] and section["config"] == raw["reader"]["config"]
    assert section["variants"]["float32"]["lineAccuracy"] == raw["reader"]["metrics"]["test"]["lineAccuracy"]
    assert section["variants"]["int8"]["lines"] == raw["reader"]["metrics"]["test"]["lines"]
    assert section["variants"]["int8"]["lineAccuracy"] >= section["variants"]["float32"]["lineAccuracy"] - 0.05
    int8_reader = ModelStore(
        Settings.from_env(
            {"MODEL_URL": str(out), "MODEL_CACHE_DIR": str(tmp_path / "cache"), "MODEL_PRECISION": "int8"}
        )
    )
    steps = int8_reader.reader().run(np.zeros((32, 100), np.float32))
    assert int8_reader.reader_precision == "int8" and steps.shape == (128 // 4, 11)
    assert manifest.raw["quantizedFrom"] == raw["version"] and manifest.version != raw["version"]
    assert verify_export(old).version == raw["version"]  # the source export is untouched
    assert sorted(p.name for p in out.parent.iterdir()) == ["new", "old"]  # no partial folder left
