"""Other writers' digits (ml_model/corpus/writers.py): Semeion's collection, split by writer."""

from __future__ import annotations

import numpy as np
import pytest

from ml_model.corpus.lines import LineGenerator
from ml_model.corpus.writers import HELD_OUT_GROUPS, SEMEION, as_mnist, semeion


def test_the_whole_collection_is_read() -> None:
    digits, labels = semeion("all")
    assert digits.shape == (1593, 16, 16) and digits.dtype == np.uint8
    assert set(np.unique(digits)) == {0, 255}
    # UCI's description of the collection: 1,593 digits, every digit written about 160 times
    assert np.bincount(labels, minlength=10).tolist() == [161, 162, 159, 159, 161, 159, 161, 158, 155, 158]
    assert all((digit > 0).sum() > 20 for digit in digits)  # every digit has ink


def test_training_and_held_out_writers_are_apart() -> None:
    train, train_labels = semeion("train")
    held, held_labels = semeion("held_out")
    everything, _ = semeion("all")
    assert len(train) + len(held) == len(everything)
    assert len(held) == 398 and HELD_OUT_GROUPS == (6,)
    # the held-out group is the collection's last: its digits are the last 398, in order
    assert np.array_equal(held, everything[-398:]) and np.array_equal(train, everything[:-398])
    for labels in (train_labels, held_labels):  # both parts have every digit from several writers
        assert np.bincount(labels, minlength=10).min() >= 38
    kept = {digit.tobytes() for digit in train}
    assert sum(digit.tobytes() in kept for digit in held) <= 2  # (a digit drawn the same twice is possible)


def test_groups_are_runs_of_every_writers_digits() -> None:
    """The file's group numbers follow the collection's order: each group is 0s, then 1s, ... then 9s."""
    rows = [line.split() for line in SEMEION.read_text().splitlines() if line and not line.startswith("#")]
    groups, labels = np.array([int(r[0]) for r in rows]), np.array([int(r[1]) for r in rows])
    assert groups.tolist() == sorted(groups.tolist()) and set(groups.tolist()) == {1, 2, 3, 4, 5, 6}
    for group in range(1, 7):
        assert np.all(np.diff(labels[groups == group]) >= 0)


def test_an_unknown_part_is_refused() -> None:
    with pytest.raises(ValueError, match="part must be one of"):
        semeion("test")


def test_laid_out_as_mnist() -> None:
    digits, labels = semeion("held_out")
    aspects = np.array([0.9, 0.4, 0.95, 0.8, 0.8, 0.95, 0.7, 0.8, 0.8, 0.7])
    images = as_mnist(digits, labels, aspects)
    assert images.shape == (len(digits), 28, 28) and images.dtype == np.uint8
    for image, label in zip(images, labels):
        rows, cols = np.flatnonzero((image > 0).any(axis=1)), np.flatnonzero((image > 0).any(axis=0))
        height, width = rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1
        assert 18 <= height <= 20 and abs(width - round(20 * aspects[label])) <= 2  # the 20-px box, the label's width
        mass = image.astype(np.float64)
        centre = [float((np.indices(image.shape)[k] * mass).sum() / mass.sum()) for k in (0, 1)]
        assert abs(centre[0] - 13.5) < 1.5 and abs(centre[1] - 13.5) < 1.5  # centred on its mass, as MNIST's


def test_lines_are_written_with_them() -> None:
    from tests.unit.test_lines import drawn_digits

    digits, labels = drawn_digits(np.random.default_rng(0))
    generator = LineGenerator(digits, labels, writers=semeion("train"))
    rng = np.random.default_rng(1)
    lines = [generator.line(rng) for _ in range(60)]
    assert any("writers" in line.features for line in lines)
    assert all(line.label.isdigit() and len(line.boxes) == len(line.label) for line in lines)
