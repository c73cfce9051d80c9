"""The lazily loaded model: `model.json` from `MODEL_URL`, one verified artifact, one predictor.

The first request that needs the model loads it; every later request in the same (warm) process
gets the same predictor without touching the network or the manifest again. Loading:

1. read `model.json` and parse it (`api.runtime.manifest`);
2. fetch the artifact of the runtime in use (for LiteRT the `.tflite` variant MODEL_PRECISION picks,
   by default the fastest within 0.1 points of float32's accuracy; `saved_model.tar.gz` for
   TensorFlow) into `<cache>/<sha256><suffix>`: written to a temporary file, checked against the
   manifest's size and SHA-256, then renamed, so a half-downloaded or altered file is never used
   (a cached file is re-checked before it is reused);
3. unpack the SavedModel archive, if that is the runtime, the same way (temporary folder, rename);
4. open the predictor and warm it with one inference.

The number reader is loaded the same way with the first number request: `reader.tflite`, or
`reader-int8.tflite` as MODEL_PRECISION picks (`Manifest.reader_variant`), on LiteRT whatever runs digits.

One lock makes concurrent first requests load once. A failed load is remembered for a few seconds
(requests meanwhile get 503 with `Retry-After` without retrying), then the next request tries again.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import shutil
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from api.errors import InvalidRequest, ModelUnavailable
from api.runtime.manifest import (
    AUTO,
    FLOAT32,
    IMAGE_SHAPE,
    NUM_CLASSES,
    READER,
    SAVED_MODEL_DIR,
    SAVEDMODEL,
    TFLITE,
    VARIANT_ARTIFACTS,
    Artifact,
    Manifest,
    ManifestError,
    parse_manifest,
    sha256_file,
)
from api.runtime.predictor import LiteRTPredictor, Predictor, RuntimeUnavailable, SavedModelPredictor
from api.runtime.reader import LiteRTReader
from api.runtime.settings import Settings
from api.runtime.sources import FetchError, Source, chunks, locate, read

log = logging.getLogger(__name__)

MAX_MANIFEST_BYTES = 1 << 20


class LoadError(Exception):
    """Why the model could not be loaded, in words fit for the caller."""


class NoReader(InvalidRequest):
    """The served export has no number reader (an older export, or an imported TF.js model)."""

    def __init__(self) -> None:
        super().__init__(
            'this model has no number reader to answer "read": "number" (an export from before the '
            "reader, or an imported TF.js model): train one with `python -m ml_model train`, deploy it "
            "with `python -m ml_model deploy`, and point MODEL_URL at it"
        )


@dataclass(frozen=True)
class LoadedModel:
    """A ready predictor and what it is; `info` is what every prediction response carries."""

    predictor: Predictor
    manifest: Manifest
    runtime: str
    load_seconds: float
    info: dict[str, str] = field(default_factory=dict)


class ModelStore:
    """Loads the model of `settings.model_url` once per process; thread-safe."""

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self._clock = clock
        self._lock = threading.Lock()
        self._model: LoadedModel | None = None
        self._reader: LiteRTReader | None = None
        self._reader_precision: str | None = None
        self._manifest: Manifest | None = None
        self._failed_at: float | None = None
        self._failure = ""
        self._s3: Any = None
        self._deadline: float | None = None  # time.monotonic() by which the current load must end

    @property
    def loaded(self) -> LoadedModel | None:
        """The loaded model, or None; never loads."""
        return self._model

    def model(self) -> LoadedModel:
        """The loaded model, loading it first if needed; raises ModelUnavailable."""
        model = self._model
        if model is not None:
            return model
        with self._lock:
            if self._model is None:
                self._guarded(self._load)
            assert self._model is not None
            return self._model

    @property
    def reader_loaded(self) -> bool:
        """Whether the number reader is loaded (it never is before the first number request)."""
        return self._reader is not None

    def reader(self) -> LiteRTReader:
        """The number reader of the served export, loaded with the first number request (a digit's cold
        start never pays for it); NoReader (400) when the export has none, ModelUnavailable (503)."""
        manifest = self.model().manifest
        if READER not in manifest.artifacts:
            raise NoReader()
        reader = self._reader
        if reader is not None:
            return reader
        with self._lock:
            if self._reader is None:
                self._guarded(lambda: self._load_reader(manifest))
            assert self._reader is not None
            return self._reader

    @property
    def reader_precision(self) -> str | None:
        """The precision of the number reader served (`Manifest.reader_variant`), or None before it is loaded."""
        return self._reader_precision

    def _load_reader(self, manifest: Manifest) -> None:
        started = time.perf_counter()
        variant = manifest.reader_variant(self.settings.precision)
        artifact = manifest.artifact(variant.artifact)
        path = self._fetch(locate(self.settings.model_url, self._s3_client).join(artifact.path), artifact)
        self._reader = LiteRTReader(path, num_threads=self.settings.threads)
        self._reader_precision = variant.precision
        log.info(
            "number reader of %s (%s) loaded in %.0f ms",
            manifest.version,
            variant.precision,
            (time.perf_counter() - started) * 1000,
        )

    def manifest(self) -> Manifest:
        """The model's manifest (without loading the model); raises ModelUnavailable."""
        model = self._model
        if model is not None:
            return model.manifest
        with self._lock:
            if self._manifest is None:
                self._guarded(self._read_manifest)
            assert self._manifest is not None
            return self._manifest

    def runtime(self) -> str:
        """The runtime the model runs (or will run) on."""
        return self.settings.runtime

    def _guarded(self, step: Callable[[], object]) -> None:
        """Run a loading step under the lock, turning any failure into a remembered 503."""
        if self._failed_at is not None:
            wait = self.settings.retry_after - (self._clock() - self._failed_at)
            if wait > 0:
                raise ModelUnavailable(self._failure, retry_after=math.ceil(wait))
        self._deadline = time.monotonic() + self.settings.load_timeout
        try:
            step()
        except Exception as exc:  # whatever broke, the caller gets a 503 and the log the cause
            self._failed_at = self._clock()
            self._manifest = None  # a retry reads model.json again: a fix may have been deployed
            known = isinstance(exc, (LoadError, FetchError, ManifestError, RuntimeUnavailable))
            reason = str(exc) if known else type(exc).__name__
            self._failure = f"the model could not be loaded: {reason}"
            # One line for a known cause; the traceback only for what nobody foresaw.
            log.error("model load failed: %s", reason, exc_info=not known)
            raise ModelUnavailable(self._failure, retry_after=self.settings.retry_after) from None
        self._failed_at = None

    def _read_manifest(self) -> None:
        if not self.settings.model_url:
            raise LoadError("MODEL_URL is not set")
        source = locate(self.settings.model_url, self._s3_client)
        data = read(source, self.settings.fetch_timeout, MAX_MANIFEST_BYTES, self._deadline)
        self._manifest = parse_manifest(data)

    def _load(self) -> None:
        started = time.perf_counter()
        runtime = self.settings.runtime
        if self._manifest is None:
            self._read_manifest()
        manifest = self._manifest
        assert manifest is not None
        if runtime == TFLITE:
            precision = manifest.variant(self.settings.precision).precision
            key = VARIANT_ARTIFACTS[precision]
        elif self.settings.precision in (AUTO, FLOAT32):
            precision, key = FLOAT32, SAVEDMODEL
        else:
            raise LoadError(
                f"MODEL_PRECISION={self.settings.precision} needs MODEL_RUNTIME=tflite: the SavedModel is float32 only"
            )
        artifact = manifest.artifact(key)
        path = self._fetch(locate(self.settings.model_url, self._s3_client).join(artifact.path), artifact)
        if runtime == TFLITE:
            predictor: Predictor = LiteRTPredictor(path, num_threads=self.settings.threads)
        else:
            predictor = SavedModelPredictor(_unpack_saved_model(path) / SAVED_MODEL_DIR)
        _warm_up(predictor)
        seconds = time.perf_counter() - started
        info = {"version": manifest.version, "name": manifest.name, "runtime": runtime, "precision": precision}
        self._model = LoadedModel(predictor, manifest, runtime, seconds, info)
        log.info(
            "model %s (%s) loaded on %s (%s, %d threads) in %.0f ms",
            manifest.version,
            manifest.name,
            runtime,
            precision,
            self.settings.threads,
            seconds * 1000,
        )

    def _fetch(self, source: Source, artifact: Artifact) -> Path:
        """The artifact in the cache, verified; downloaded first unless a good copy is there."""
        try:
            return self._download(source, artifact)
        except OSError as exc:  # /tmp full or read-only: say so, without the path (it goes to the caller)
            raise LoadError(
                f"cannot store {artifact.path} in the model cache: {exc.strerror or type(exc).__name__}"
            ) from None

    def _download(self, source: Source, artifact: Artifact) -> Path:
        cache = self.settings.cache_dir
        cache.mkdir(parents=True, exist_ok=True)
        final = cache / (artifact.sha256 + _suffix(artifact.path))
        if final.is_file():
            if _matches(final, artifact):
                return final
            log.warning("cached %s does not match model.json; fetching it again", final.name)
        fd, partial_name = tempfile.mkstemp(dir=cache, prefix=f".{artifact.sha256[:16]}.", suffix=".partial")
        partial = Path(partial_name)
        try:
            digest = hashlib.sha256()
            size = 0
            with os.fdopen(fd, "wb") as out:
                for chunk in chunks(source, self.settings.fetch_timeout, self._deadline):
                    size += len(chunk)
                    if size > artifact.bytes:
                        raise LoadError(f"{artifact.path} is larger than the {artifact.bytes} bytes model.json says")
                    digest.update(chunk)
                    out.write(chunk)
            if size != artifact.bytes:
                raise LoadError(f"{artifact.path} has {size} bytes, model.json says {artifact.bytes}")
            if digest.hexdigest() != artifact.sha256:
                raise LoadError(f"{artifact.path} does not match its sha256 in model.json")
            os.replace(partial, final)
        finally:
            partial.unlink(missing_ok=True)
        return final

    def _s3_client(self) -> Any:
        """The boto3 S3 client s3:// sources read with, created when the first one is read."""
        if self._s3 is None:
            try:
                import boto3
                from botocore.config import Config
            except ImportError:
                raise FetchError("s3:// model URLs need boto3 (present in the Lambda runtime)") from None
            timeout = self.settings.fetch_timeout
            # One retry: more would outlast the load timeout; the next request after Retry-After tries again.
            config = Config(connect_timeout=timeout, read_timeout=timeout, retries={"max_attempts": 1})
            self._s3 = boto3.client("s3", config=config)
        return self._s3


def _suffix(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    return ".tar.gz" if name.endswith(".tar.gz") else os.path.splitext(name)[1]


def _matches(path: Path, artifact: Artifact) -> bool:
    return path.stat().st_size == artifact.bytes and sha256_file(path) == artifact.sha256


def _unpack_saved_model(archive: Path) -> Path:
    """The folder `archive` (a verified `saved_model.tar.gz`) unpacks to, unpacked once."""
    final = archive.with_name(archive.name.removesuffix(".tar.gz") + ".unpacked")
    if (final / SAVED_MODEL_DIR).is_dir():
        return final
    partial = Path(tempfile.mkdtemp(dir=archive.parent, prefix=f".{final.name}."))
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar.getmembers():
                if member.name != SAVED_MODEL_DIR and not member.name.startswith(SAVED_MODEL_DIR + "/"):
                    raise LoadError(f"the SavedModel archive holds {member.name!r}, outside '{SAVED_MODEL_DIR}/'")
            tar.extractall(partial, filter="data")
        if not (partial / SAVED_MODEL_DIR / "saved_model.pb").is_file():
            raise LoadError("the SavedModel archive has no saved_model/saved_model.pb")
        try:
            os.rename(partial, final)
        except OSError:
            if not (final / SAVED_MODEL_DIR).is_dir():  # not another process winning the race
                raise
    except tarfile.FilterError as exc:  # links that leave the folder, absolute links, devices (no paths in the message)
        raise LoadError(f"the SavedModel archive's {exc.tarinfo.name!r} is refused: {type(exc).__name__}") from None
    except tarfile.TarError as exc:
        raise LoadError(f"the SavedModel archive cannot be unpacked: {exc}") from None
    except OSError as exc:
        raise LoadError(f"the SavedModel archive cannot be unpacked: {exc.strerror or type(exc).__name__}") from None
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return final


def _warm_up(predictor: Predictor) -> None:
    """One inference, so the first real request does not pay for allocation and kernel set-up."""
    probabilities = predictor.predict(np.zeros((1, *IMAGE_SHAPE), dtype=np.float32))
    if probabilities.shape != (1, NUM_CLASSES):
        raise LoadError(f"the model answers shape {list(probabilities.shape)}, not [1, {NUM_CLASSES}]")
