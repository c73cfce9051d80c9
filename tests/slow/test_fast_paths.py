"""A big batch run in passes of `api.runtime.predictor.CHUNK` images answers as one pass does (the trained export)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from api.runtime.predictor import CHUNK, LiteRTPredictor


def test_a_batch_in_passes_answers_as_one_pass(mnist_export: Path, real_mnist) -> None:
    """Big batches run in passes of CHUNK images, the last one shorter: the same probabilities."""
    images = real_mnist.test_images[: CHUNK * 3 + 5, ..., np.newaxis].astype(np.float32) / 255.0
    predictor = LiteRTPredictor(mnist_export / "model.tflite", num_threads=2)
    whole = predictor._run(images)  # one pass of all of them
    np.testing.assert_allclose(predictor.predict(images), whole, atol=1e-5)
    np.testing.assert_allclose(predictor.predict(images[: CHUNK + 1]), whole[: CHUNK + 1], atol=1e-5)
