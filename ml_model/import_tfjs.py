"""`python -m ml_model import-tfjs SOURCE`: a TF.js layers model (the original project's format) as
one of our exports, ready for `deploy`.

SOURCE is a folder (or its `model.json`), an `http(s)://` URL or `s3://BUCKET/KEY`, read through the
API's own sources (`api.sources`; s3:// with the deploy's client, `ml_model.s3`). The `model.json`
and every shard it names are fetched with limits: shard paths must stay beside `model.json` (no `..`,
no absolute paths), the weights the manifest declares may total at most MAX_WEIGHT_BYTES, each
group's shards must hold exactly the bytes its weights need, and a group's `sha256` list (ours
carry one; TF.js ignores it) is checked. The model is rebuilt in Keras (`ml_model.tfjs`), measured
on the MNIST test set, and exported like a trained one (SavedModel, `.tflite` variants, `tfjs/`),
with `importedFrom` in the manifest. Any failure is one line naming the layer or file, and nothing
is written: the export is assembled in a hidden folder and renamed into place only when complete.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import urllib.parse
from pathlib import Path
from typing import Any, Callable

from api.manifest import MANIFEST_NAME
from api.sources import FetchError, Source, chunks, locate, name, read

from .data import Mnist, load_mnist, to_model_input
from .errors import TfjsImportError
from .tfjs import build_keras, group_bytes, parse_layers_model, set_weights

log = logging.getLogger(__name__)

MAX_MODEL_JSON_BYTES = 16 * 1024 * 1024
MAX_WEIGHT_BYTES = 256 * 1024 * 1024  # 64 M float32 weights; the original's MNIST CNN has 1.2 M
FETCH_TIMEOUT = 30.0  # seconds for each connect and read
# A shard path: relative names beside model.json (or in folders under it), no `..`, no scheme.
SHARD_PATH = re.compile(r"^(?!.*(?:^|/)\.\.?(?:/|$))[A-Za-z0-9_.\-]+(?:/[A-Za-z0-9_.\-]+)*$")


def import_tfjs(source: str, out: Path, *, s3_client: Callable[[], Any] = lambda: None, mnist: Mnist | None = None,
                data_dir: str | Path | None = None, cache_dir: str | Path | None = None) -> Path:
    """Import the TF.js layers model at `source` as the export `out`; returns `out`."""
    from .evaluate import scores
    from .export import export_model

    model_json = _locate(source, s3_client)
    raw_bytes = _read(model_json, MAX_MODEL_JSON_BYTES)
    try:
        raw = json.loads(raw_bytes)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise TfjsImportError(f"{name(model_json)}: not valid JSON ({exc})") from None
    parsed = parse_layers_model(raw, name(model_json))
    declared = sum(group_bytes(specs) for _, specs in parsed.groups)
    if declared > MAX_WEIGHT_BYTES:
        raise TfjsImportError(f"{name(model_json)}: its weights take {declared} bytes, over the "
                              f"{MAX_WEIGHT_BYTES} an import accepts")
    model = build_keras(parsed)  # before any shard is fetched: a layer we cannot build stops here
    set_weights(model, parsed, [_group(model_json, paths, specs, group) for (paths, specs), group
                                in zip(parsed.groups, raw["weightsManifest"])])
    if mnist is None:
        mnist = load_mnist(data_dir, cache_dir)
    probabilities = model.predict(to_model_input(mnist.test_images), batch_size=1000, verbose=0)
    metrics = {k: v for k, v in scores(probabilities, mnist.test_labels).items() if k in ("loss", "accuracy")}
    imported_from = {
        "source": _redacted(source),
        "format": parsed.raw.get("format", "layers-model"),
        "generatedBy": parsed.raw.get("generatedBy"),
        "convertedBy": parsed.raw.get("convertedBy"),
        "modelJsonSha256": hashlib.sha256(raw_bytes).hexdigest(),
        "layers": [entry["class_name"] for entry in parsed.layers],
    }
    log.info("Imported %s: %d layers, test accuracy %.4f", name(model_json), len(parsed.layers), metrics["accuracy"])
    return export_model(model, out, config={}, metrics=metrics, history={}, mnist=mnist,
                        extra={"importedFrom": imported_from})


def _locate(source: str, s3_client: Callable[[], Any]) -> Source:
    try:
        return locate(source, s3_client)
    except FetchError as exc:
        raise TfjsImportError(str(exc).replace("MODEL_URL", "the source")) from None


def _read(source: Source, limit: int) -> bytes:
    try:
        return read(source, FETCH_TIMEOUT, limit)
    except FetchError as exc:
        raise TfjsImportError(str(exc)) from None


def _group(model_json: Source, paths: tuple[str, ...], specs: Any, group: dict[str, Any]) -> bytes:
    """A weight group's shards joined, checked against the bytes its weights need (and `sha256`)."""
    expected = group_bytes(specs)
    digests = group.get("sha256") if isinstance(group.get("sha256"), list) else None
    if digests is not None and len(digests) != len(paths):
        raise TfjsImportError(f"{name(model_json)}: a weight group lists {len(digests)} sha256 for {len(paths)} shards")
    data = bytearray()
    for index, path in enumerate(paths):
        if not SHARD_PATH.match(path) or urllib.parse.urlsplit(path).scheme:
            raise TfjsImportError(f"shard {path!r}: a shard path must be a relative name beside "
                                  f"{MANIFEST_NAME} (no '..', no absolute path)")
        try:
            shard = model_json.join(path)
        except FetchError as exc:
            raise TfjsImportError(f"shard {path!r}: {exc}") from None
        digest = hashlib.sha256()
        try:
            for chunk in chunks(shard, FETCH_TIMEOUT):
                data += chunk
                digest.update(chunk)
                if len(data) > expected:
                    raise TfjsImportError(f"{path}: the shards hold more than the {expected} bytes their weights need")
        except FetchError as exc:
            raise TfjsImportError(str(exc)) from None
        if digests is not None and digest.hexdigest() != digests[index]:
            raise TfjsImportError(f"{path}: does not match its sha256 in {MANIFEST_NAME}")
    if len(data) != expected:
        raise TfjsImportError(f"{paths[-1]}: the shards hold {len(data)} bytes, their weights need {expected} "
                              "(a truncated or wrong shard)")
    return bytes(data)


def _redacted(source: str) -> str:
    """The source as the manifest keeps it: no credentials or query string of a URL."""
    parts = urllib.parse.urlsplit(source)
    if parts.scheme in ("http", "https"):
        return urllib.parse.urlunsplit((parts.scheme, parts.netloc.rsplit("@", 1)[-1], parts.path, "", ""))
    return source

