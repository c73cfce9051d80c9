"""The export manifest `model.json`: what a model is and which files make it up.

Shared by the trainer (which writes it), the deploy step (which uploads what it names) and the API
(which loads from it), so it needs only the standard library. Artifact paths are relative to the
manifest's own location and resolve like URLs, so a manifest under `latest/` may name files of an
immutable version folder (`../2026-11-26T10-00-00Z/model.tflite`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Mapping

FORMAT = "number-prediction/model"
FORMAT_VERSION = 1
MANIFEST_NAME = "model.json"
IMAGE_SHAPE = (28, 28, 1)
# The model's one input (the Keras input layer's name, and the Open Inference Protocol input's).
INPUT_NAME = "image"
LABELS = tuple(str(d) for d in range(10))

# Artifact keys every complete export has, and the file each one is.
TFLITE = "tflite"
SAVEDMODEL = "savedmodel"
REQUIRED_ARTIFACTS = (TFLITE, SAVEDMODEL)
CONTENT_TYPES = {
    ".json": "application/json",
    ".tflite": "application/octet-stream",
    ".gz": "application/gzip",
    ".png": "image/png",
    ".csv": "text/csv",
}
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class ManifestError(ValueError):
    """A `model.json` that is not a complete manifest of this format."""


@dataclass(frozen=True)
class Artifact:
    key: str
    path: str  # relative to the manifest
    bytes: int
    sha256: str
    content_type: str

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "bytes": self.bytes, "sha256": self.sha256, "contentType": self.content_type}


@dataclass(frozen=True)
class Manifest:
    version: str
    name: str
    created: str
    artifacts: Mapping[str, Artifact]
    raw: Mapping[str, Any]

    def artifact(self, key: str) -> Artifact:
        try:
            return self.artifacts[key]
        except KeyError:
            raise ManifestError(f"the manifest names no '{key}' artifact") from None

    @property
    def test_accuracy(self) -> float | None:
        value = self.raw.get("metrics", {}).get("test", {}).get("accuracy")
        return float(value) if isinstance(value, (int, float)) else None

    def public(self) -> dict[str, Any]:
        """What `GET /model` shows: identity, input, labels and metrics; not the files or config."""
        keys = ("format", "formatVersion", "version", "name", "created", "input", "output", "labels", "metrics")
        return {k: self.raw[k] for k in keys if k in self.raw}

    def with_artifact_prefix(self, prefix: str) -> dict[str, Any]:
        """The raw manifest with every artifact path prefixed (e.g. `../<version>/`)."""
        raw = json.loads(json.dumps(self.raw))
        for entry in raw["artifacts"].values():
            entry["path"] = prefix + entry["path"]
        return raw


def content_type(path: str) -> str:
    for suffix, kind in CONTENT_TYPES.items():
        if path.endswith(suffix):
            return kind
    return "application/octet-stream"


def parse_manifest(data: bytes | str | Mapping[str, Any]) -> Manifest:
    """Parse and check a manifest; raises ManifestError saying what is wrong."""
    if isinstance(data, (bytes, str)):
        try:
            raw = json.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ManifestError(f"model.json is not valid JSON: {exc}") from None
    else:
        raw = data
    if not isinstance(raw, dict):
        raise ManifestError("model.json must hold a JSON object")
    if raw.get("format") != FORMAT:
        raise ManifestError(f"model.json is not a {FORMAT} manifest (format={raw.get('format')!r})")
    if raw.get("formatVersion") != FORMAT_VERSION:
        raise ManifestError(f"unsupported manifest formatVersion {raw.get('formatVersion')!r}")
    for key in ("version", "name", "created"):
        if not isinstance(raw.get(key), str) or not raw[key]:
            raise ManifestError(f"model.json: missing '{key}'")
    entries = raw.get("artifacts")
    if not isinstance(entries, dict):
        raise ManifestError("model.json: 'artifacts' must be an object")
    artifacts = {}
    for key, entry in entries.items():
        if not isinstance(entry, dict):
            raise ManifestError(f"model.json: artifact '{key}' must be an object")
        path, size, digest = entry.get("path"), entry.get("bytes"), entry.get("sha256")
        if not isinstance(path, str) or not path or path.startswith("/") or "\\" in path:
            raise ManifestError(f"model.json: artifact '{key}' has a bad path {path!r}")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise ManifestError(f"model.json: artifact '{key}' has a bad size {size!r}")
        if not isinstance(digest, str) or not _SHA256.match(digest):
            raise ManifestError(f"model.json: artifact '{key}' has a bad sha256 {digest!r}")
        kind = entry.get("contentType") or content_type(path)
        artifacts[key] = Artifact(key, path, size, digest, kind)
    for key in REQUIRED_ARTIFACTS:
        if key not in artifacts:
            raise ManifestError(f"model.json: missing the '{key}' artifact")
    return Manifest(raw["version"], raw["name"], raw["created"], artifacts, raw)
