"""`python -m ml_model import-tfjs SOURCE`: a TF.js layers model (the original project's format) as
one of our exports, ready for `deploy`.

SOURCE is a folder (or its `model.json`), an `http(s)://` URL or `s3://BUCKET/KEY`, read through the
API's own sources (`api.runtime.sources`; s3:// with the deploy's client, `ml_model.s3`). The `model.json`
and every shard it names are fetched with limits: `model.json` at most MAX_MODEL_JSON_BYTES, the
weights it declares at most MAX_WEIGHT_BYTES in all, everything within FETCH_DEADLINE, a shard name
a plain file name beside `model.json` (no `/`, no `..`, no absolute path or URL), each group's
shards exactly the bytes its weights need, and a group's `sha256` list (ours carry one; TF.js
ignores it) checked.

The model is rebuilt in Keras (`ml_model.tfjs`), measured on the MNIST test set, and exported like a
trained one (SavedModel, `.tflite` variants, `tfjs/`) with `importedFrom` in the manifest. Before the
export is renamed into place it is verified: every artifact against the manifest, and LiteRT's
float32 model against the Keras model on VERIFY_IMAGES test digits. Any failure is one line naming
the layer or file, and nothing is written.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from api.runtime.manifest import ARTIFACT_FILES, TFLITE
from api.runtime.sources import FetchError, Source, chunks, locate, name, read

from .artifacts import verify_export
from .data import Mnist, load_mnist, to_model_input
from .errors import ExportError, TfjsImportError
from .evaluate import scores
from .export import export_model
from .tfjs import WeightSpec
from .tfjs_read import build_keras, group_bytes, parse_layers_model, set_weights

if TYPE_CHECKING:
    import keras

log = logging.getLogger(__name__)

MAX_MODEL_JSON_BYTES = 16 * 1024 * 1024
MAX_WEIGHT_BYTES = 256 * 1024 * 1024  # 64 M float32 weights; the original's MNIST CNN has 1.2 M
FETCH_TIMEOUT = 30.0  # seconds for each connect and read
FETCH_DEADLINE = 600.0  # seconds for the whole model (model.json and every shard): no trickling source holds on
# A shard name: a plain file name beside model.json (what TF.js's save handlers write).
SHARD_NAME = re.compile(r"^[A-Za-z0-9_\-][A-Za-z0-9_.\-]*$")
VERIFY_IMAGES = 1000  # test digits LiteRT's float32 model must answer as the Keras model does
# Keras and LiteRT run float32 with different kernels: rounding only (measured: < 1e-6).
VERIFY_TOLERANCE = 1e-4


@dataclass(frozen=True)
class TfjsModel:
    """A TF.js layers model read into Keras, and where it came from (the manifest's `importedFrom`)."""

    model: keras.Model
    imported_from: dict[str, Any]


def import_tfjs(
    source: str,
    out: Path,
    *,
    s3_client: Callable[[], Any] = lambda: None,
    mnist: Mnist | None = None,
    data_dir: str | Path | None = None,
    cache_dir: str | Path | None = None,
) -> Path:
    """Import the TF.js layers model at `source` as the export `out`; returns `out`."""

    imported = read_tfjs(source, s3_client)
    if mnist is None:
        mnist = load_mnist(data_dir, cache_dir)
    probabilities = imported.model.predict(to_model_input(mnist.test_images), batch_size=1000, verbose=0)
    metrics = {k: v for k, v in scores(probabilities, mnist.test_labels).items() if k in ("loss", "accuracy")}
    log.info("Imported %s: test accuracy %.4f", imported.imported_from["source"], metrics["accuracy"])
    return export_model(
        imported.model,
        Path(out),
        config={},
        metrics=metrics,
        history={},
        mnist=mnist,
        extra={"importedFrom": imported.imported_from},
        check=lambda partial: _verify(partial, mnist, probabilities),
    )


def read_tfjs(source: str, s3_client: Callable[[], Any] = lambda: None) -> TfjsModel:
    """Fetch, check and rebuild the TF.js layers model at `source`; TfjsImportError saying what is wrong."""
    model_json = _locate(source, s3_client)
    deadline = time.monotonic() + FETCH_DEADLINE
    raw_bytes = _read(model_json, MAX_MODEL_JSON_BYTES, deadline)
    try:
        raw = json.loads(raw_bytes)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise TfjsImportError(f"{name(model_json)}: not valid JSON ({exc})") from None
    parsed = parse_layers_model(raw, name(model_json))
    declared = sum(group_bytes(specs) for _, specs in parsed.groups)
    if declared > MAX_WEIGHT_BYTES:
        raise TfjsImportError(
            f"{name(model_json)}: its weights take {declared} bytes, over the {MAX_WEIGHT_BYTES} an import accepts"
        )
    for paths, _ in parsed.groups:
        for path in paths:
            _check_shard_name(path, name(model_json))
    model = build_keras(parsed)  # before any shard is fetched: a layer we cannot build stops here
    blobs = [
        _group(model_json, paths, specs, group, deadline)
        for (paths, specs), group in zip(parsed.groups, raw["weightsManifest"])
    ]
    set_weights(model, parsed, blobs)
    imported_from = {
        "source": _redacted(source),
        "format": parsed.raw.get("format", "layers-model"),
        "generatedBy": parsed.raw.get("generatedBy"),
        "convertedBy": parsed.raw.get("convertedBy"),
        "modelJsonSha256": hashlib.sha256(raw_bytes).hexdigest(),
        "weightsSha256": hashlib.sha256(b"".join(blobs)).hexdigest(),
        "layers": [entry["class_name"] for entry in parsed.layers],
    }
    return TfjsModel(model, imported_from)


def _check_shard_name(path: str, label: str) -> None:
    if not SHARD_NAME.match(path) or urllib.parse.urlsplit(path).scheme:
        raise TfjsImportError(
            f"{label}: shard {path!r} must be a plain file name beside {label} "
            "(no '/', no '..', no absolute path or URL)"
        )


def _locate(source: str, s3_client: Callable[[], Any]) -> Source:
    try:
        return locate(source, s3_client)
    except FetchError as exc:
        raise TfjsImportError(str(exc).replace("MODEL_URL", "source")) from None


def _read(source: Source, limit: int, deadline: float) -> bytes:
    try:
        return read(source, FETCH_TIMEOUT, limit, deadline)
    except FetchError as exc:
        raise TfjsImportError(str(exc)) from None


def _group(
    model_json: Source, paths: Sequence[str], specs: Sequence[WeightSpec], group: Mapping[str, Any], deadline: float
) -> bytes:
    """A weight group's shards joined, checked against the bytes its weights need (and `sha256`)."""
    expected = group_bytes(specs)
    digests = group.get("sha256") if isinstance(group.get("sha256"), list) else None
    if digests is not None and len(digests) != len(paths):
        raise TfjsImportError(f"{name(model_json)}: a weight group lists {len(digests)} sha256 for {len(paths)} shards")
    data = bytearray()
    for index, path in enumerate(paths):
        digest = hashlib.sha256()
        try:
            for chunk in chunks(model_json.join(path), FETCH_TIMEOUT, deadline):
                data += chunk
                digest.update(chunk)
                if len(data) > expected:
                    raise TfjsImportError(f"{path}: the shards hold more than the {expected} bytes their weights need")
        except FetchError as exc:
            raise TfjsImportError(str(exc)) from None
        if digests is not None and digest.hexdigest() != digests[index]:
            raise TfjsImportError(f"{path}: does not match its sha256 in {name(model_json)}")
    if len(data) != expected:
        raise TfjsImportError(
            f"{paths[-1]}: the shards hold {len(data)} bytes, their weights need {expected} "
            "(a truncated or wrong shard)"
        )
    return bytes(data)


def _verify(partial: Path, mnist: Mnist, probabilities: np.ndarray) -> None:
    """The export being assembled: its files match its manifest, and LiteRT's float32 model gives the
    Keras model's answers (the model the API serves is the model that was imported)."""
    from api.runtime.predictor import LiteRTPredictor

    try:
        verify_export(partial)
    except ExportError as exc:
        raise TfjsImportError(f"the export did not verify: {exc}") from None
    expected = probabilities[:VERIFY_IMAGES]
    litert = LiteRTPredictor(partial / ARTIFACT_FILES[TFLITE], num_threads=1).predict(
        to_model_input(mnist.test_images[:VERIFY_IMAGES])
    )
    differs = int(np.sum(litert.argmax(axis=1) != expected.argmax(axis=1)))
    largest = float(np.max(np.abs(litert - expected)))
    if differs or largest > VERIFY_TOLERANCE:
        raise TfjsImportError(
            f"model.tflite does not compute what the imported model does ({differs} of "
            f"{len(expected)} digits differ, probabilities by up to {largest:.2g})"
        )


def _redacted(source: str) -> str:
    """The source as the manifest keeps it: no credentials or query string of a URL."""
    parts = urllib.parse.urlsplit(source)
    if parts.scheme in ("http", "https"):
        return urllib.parse.urlunsplit((parts.scheme, parts.netloc.rsplit("@", 1)[-1], parts.path, "", ""))
    return source
