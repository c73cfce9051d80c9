"""The model contract: the input and output every export has, its files, and the manifest `model.json`.

Shared by the trainer (which writes it), the deploy step (which uploads what it names) and the API
(which loads from it), so it needs only the standard library; every other module imports these names
from here. Artifact paths are relative to the
manifest's own location and resolve like URLs, so a manifest under `latest/` may name files of an
immutable version folder (`../2026-11-26T10-00-00Z/model.tflite`).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

FORMAT = "number-prediction/model"
FORMAT_VERSION = 1
MANIFEST_NAME = "model.json"
IMAGE_SIZE = 28  # MNIST's frame: 28x28 pixels
IMAGE_SHAPE = (IMAGE_SIZE, IMAGE_SIZE, 1)
IMAGE_PIXELS = IMAGE_SIZE * IMAGE_SIZE
# The model's one input (the Keras input layer's name, and the Open Inference Protocol input's).
INPUT_NAME = "image"
LABELS = tuple(str(d) for d in range(10))
NUM_CLASSES = len(LABELS)

# The number reader (`reader.tflite`, optional: older and imported exports lack it): a line of ink
# float32 [1, READER_HEIGHT, width, 1] in [0, 1], light on dark → one distribution per column step
# over the ten digits and the CTC blank, [1, steps, READER_CLASSES]. A step is the reader's own
# number of columns (its `stride`), measured from the model when it loads (`api.runtime.reader`).
READER = "reader"
READER_FILE = "reader.tflite"
READER_INPUT = "line"
READER_HEIGHT = 32
# A line's width is padded (with background) to a multiple of this before a pass: every reader's
# layers divide widths by at most this much.
READER_WIDTH_MULTIPLE = 8
# The widest line read: a number of at most 16 digits, as wide as they are tall with a gap each, and margins.
READER_MAX_WIDTH = 2 * 16 * READER_HEIGHT + 16
BLANK = NUM_CLASSES  # the blank's index, after the ten digits
READER_CLASSES = NUM_CLASSES + 1
# The OIP name of the reader beside the digit model.
READER_MODEL_NAME = "number-reader"

# Artifact keys every complete export has, which are also the names of the runtimes that run them.
TFLITE = "tflite"
SAVEDMODEL = "savedmodel"
REQUIRED_ARTIFACTS = (TFLITE, SAVEDMODEL)
RUNTIMES = REQUIRED_ARTIFACTS
ARTIFACT_FILES = {TFLITE: "model.tflite", SAVEDMODEL: "saved_model.tar.gz"}
# The TF.js layers model of an export (for TF.js clients in a browser or Node; the API does not serve
# from it): `tfjs/model.json` under the artifact key `tfjs`, its weight shards under `tfjs_shard1`,
# `tfjs_shard2`, ... (`group1-shard1of2.bin`, ...: TF.js's own names), at most TFJS_SHARD_BYTES each.
TFJS = "tfjs"
TFJS_DIR = "tfjs"
TFJS_MODEL = "tfjs/model.json"
TFJS_SHARD_BYTES = 4 * 1024 * 1024
TFJS_FORMAT = "layers-model"
# What marks a `model.json` as a TF.js layers model (the TF.js version's MODEL_URL pointed at one),
# and the one command that turns it into a deployed export of ours (docs/training.md, "Coming from the TF.js version").
TFJS_MODEL_KEYS = ("modelTopology", "weightsManifest")
IMPORTED_EXPORT = "ml_model/exports/imported"
IMPORT_COMMAND = (
    f'python -m ml_model import-tfjs "$MODEL_URL" --out {IMPORTED_EXPORT} '
    f"&& python -m ml_model deploy --export {IMPORTED_EXPORT}"
)
# The SavedModel's folder in an export, and its archive's one member root.
SAVED_MODEL_DIR = "saved_model"
# The name that points at the newest export (a link under exports/) or deployed version (a bucket prefix).
LATEST = "latest"

# The `.tflite` models an export may carry, by the precision of their weights and arithmetic, with
# their artifact keys. float32 is `model.tflite` itself; the quantised ones sit beside it.
FLOAT32 = "float32"
FLOAT16 = "float16"
INT8 = "int8"
PRECISIONS = (FLOAT32, FLOAT16, INT8)
AUTO = "auto"
VARIANT_ARTIFACTS = {FLOAT32: TFLITE, FLOAT16: "tflite_float16", INT8: "tflite_int8"}
VARIANT_FILES = {FLOAT32: ARTIFACT_FILES[TFLITE], FLOAT16: "model-float16.tflite", INT8: "model-int8.tflite"}
# `auto` serves the fastest variant whose test accuracy is at most this far below float32's
# (0.1 percentage points).
ACCURACY_TOLERANCE = 0.001
# ...and only when it is at least this much faster than float32 (by the export's own timing, taken
# on one machine): float16 runs at float32's speed, and noise must not decide.
SPEED_MARGIN = 0.10
# The number reader's `.tflite` models (`reader-int8.tflite` optional: exports from before it lack it),
# picked by the same MODEL_PRECISION. There is no float16 reader: it would compute in float32 anyway.
READER_INT8 = "reader_int8"
READER_VARIANT_ARTIFACTS = {FLOAT32: READER, INT8: READER_INT8}
READER_VARIANT_FILES = {FLOAT32: READER_FILE, INT8: "reader-int8.tflite"}
# `auto` serves the int8 reader when its held-out line accuracy is at most this far below float32's
# (half a point: five of the 1,000 held-out lines, where a line of 1-10 digits is lost to any one of
# them) and it is SPEED_MARGIN faster.
READER_ACCURACY_TOLERANCE = 0.005
CONTENT_TYPES = {
    ".json": "application/json",
    ".tflite": "application/octet-stream",
    ".gz": "application/gzip",
    ".png": "image/png",
    ".csv": "text/csv",
    ".bin": "application/octet-stream",
}
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_READ_CHUNK = 1 << 20


class ManifestError(ValueError):
    """A `model.json` that is not a complete manifest of this format."""


@dataclass(frozen=True)
class Artifact:
    key: str
    path: str  # relative to the manifest
    bytes: int
    sha256: str
    content_type: str


@dataclass(frozen=True)
class Variant:
    """One `.tflite` model of the export: its precision, artifact and what it measured at export."""

    precision: str
    artifact: str  # key into Manifest.artifacts
    accuracy: float | None  # on the MNIST test set, through LiteRT
    ms_per_image: float | None  # median of single-image inferences, measured beside the others


@dataclass(frozen=True)
class ReaderVariant:
    """One `.tflite` model of the number reader: its precision, artifact and what it measured at export."""

    precision: str
    artifact: str  # key into Manifest.artifacts
    line_accuracy: float | None  # on held-out lines of MNIST's test digits, through the API's runtime
    ms_per_line: float | None  # median per line, measured beside the other variant


@dataclass(frozen=True)
class Manifest:
    version: str
    name: str
    created: str
    artifacts: Mapping[str, Artifact]
    raw: Mapping[str, Any]
    variants: Mapping[str, Variant] = field(default_factory=dict)
    reader_variants: Mapping[str, ReaderVariant] = field(default_factory=dict)  # empty: no number reader

    def artifact(self, key: str) -> Artifact:
        try:
            return self.artifacts[key]
        except KeyError:
            raise ManifestError(f"the manifest names no '{key}' artifact") from None

    @property
    def test_accuracy(self) -> float | None:
        value = self.raw.get("metrics", {}).get("test", {}).get("accuracy")
        return float(value) if isinstance(value, (int, float)) else None

    def variant(self, precision: str) -> Variant:
        """The `.tflite` model to serve for MODEL_PRECISION `precision` (a precision or `auto`).

        `auto`: the fastest variant (by the export's own timing) whose test accuracy is within
        ACCURACY_TOLERANCE of float32's, if it is SPEED_MARGIN faster; else (and when nothing was
        measured: older manifests) float32. float16 computes in float32, so only `float16` asks for it.
        """
        if precision != AUTO:
            try:
                return self.variants[precision]
            except KeyError:
                raise ManifestError(
                    f"the model has no {precision} variant (it has {', '.join(self.variants)}); "
                    f"set MODEL_PRECISION to one of those or to {AUTO}"
                ) from None
        baseline = self.variants[FLOAT32]
        if baseline.accuracy is None:
            return baseline
        # float16 only stores the weights in half precision: LiteRT expands them and computes in
        # float32, so its timing can differ from float32's by noise alone, and noise must not choose.
        eligible = [
            v
            for v in self.variants.values()
            if v.precision != FLOAT16
            and v.accuracy is not None
            and v.ms_per_image is not None
            and v.accuracy >= baseline.accuracy - ACCURACY_TOLERANCE - 1e-12
        ]
        fastest = min(eligible, key=lambda v: v.ms_per_image, default=baseline)
        if (
            baseline.ms_per_image is not None
            and fastest.ms_per_image is not None
            and fastest.ms_per_image > baseline.ms_per_image * (1 - SPEED_MARGIN)
        ):
            return baseline  # equal within timing noise: the exact model
        return fastest

    def reader_variant(self, precision: str) -> ReaderVariant:
        """The number reader's `.tflite` to serve for MODEL_PRECISION `precision` (a precision or `auto`).

        `auto`: int8 when its line accuracy is within READER_ACCURACY_TOLERANCE of float32's and it is
        SPEED_MARGIN faster, by the export's own measurements; else (and for an export from before the
        int8 reader) float32. `float16` serves float32: no float16 reader is written, as it would
        compute in float32. A precision the reader could have but lacks (`int8` on an older export) is
        refused, as `variant` refuses a digit model the export lacks: the operator asked for it.
        """
        if not self.reader_variants:
            raise ManifestError(f"the manifest names no '{READER}' artifact")
        baseline = self.reader_variants[FLOAT32]
        if precision == FLOAT16:
            return baseline
        if precision != AUTO:
            try:
                return self.reader_variants[precision]
            except KeyError:
                raise ManifestError(
                    f"the model has no {precision} number reader (it has {', '.join(self.reader_variants)}); "
                    f"add it with `python -m ml_model quantize EXPORT` and deploy that, or set MODEL_PRECISION "
                    f"to {AUTO}"
                ) from None
        int8 = self.reader_variants.get(INT8)
        if int8 is None or None in (int8.line_accuracy, int8.ms_per_line, baseline.line_accuracy, baseline.ms_per_line):
            return baseline
        accurate = int8.line_accuracy >= baseline.line_accuracy - READER_ACCURACY_TOLERANCE - 1e-12
        faster = int8.ms_per_line <= baseline.ms_per_line * (1 - SPEED_MARGIN)
        return int8 if accurate and faster else baseline

    def public(self) -> dict[str, Any]:
        """What `GET /model` shows: identity, input, labels and metrics; not the files or config."""
        keys = (
            "format",
            "formatVersion",
            "version",
            "name",
            "created",
            "input",
            "output",
            "labels",
            "metrics",
            "variants",
        )
        return {k: self.raw[k] for k in keys if k in self.raw}

    def with_artifact_prefix(self, prefix: str) -> dict[str, Any]:
        """The raw manifest with every artifact path prefixed (e.g. `../<version>/`)."""
        raw = json.loads(json.dumps(self.raw))
        for entry in raw["artifacts"].values():
            entry["path"] = prefix + entry["path"]
        return raw


def tfjs_shard_key(index: int) -> str:
    """The manifest's artifact key of the TF.js weight shard `index` (from 1)."""
    return f"{TFJS}_shard{index}"


def tfjs_shard_name(index: int, count: int) -> str:
    """The file name TF.js gives shard `index` (from 1) of `count` in the one weight group."""
    return f"group1-shard{index}of{count}.bin"


def is_tfjs_model(raw: Any) -> bool:
    """Whether a parsed `model.json` is a TF.js layers model (the original project's format), not our manifest."""
    return isinstance(raw, dict) and "modelTopology" in raw and "weightsManifest" in raw


def known_content_type(path: str) -> str | None:
    """The content type of an export's file by its suffix, or None for a suffix exports do not use."""
    for suffix, kind in CONTENT_TYPES.items():
        if path.endswith(suffix):
            return kind
    return None


def content_type(path: str) -> str:
    return known_content_type(path) or "application/octet-stream"


def sha256_file(path: Path) -> str:
    """The hex SHA-256 of a file, read in chunks: how a manifest names every artifact's content."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_READ_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


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
    if all(key in raw for key in TFJS_MODEL_KEYS):
        raise ManifestError(
            f"model.json is a TF.js layers model (the TF.js version's format), not a {FORMAT} "
            f"manifest; import and deploy it with: {IMPORT_COMMAND} (then point MODEL_URL at "
            "the latest/model.json the deploy prints)"
        )
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
    manifest = Manifest(raw["version"], raw["name"], raw["created"], artifacts, raw)
    return replace(manifest, variants=_variants(raw, manifest), reader_variants=_reader_variants(raw, manifest))


def _variants(raw: Mapping[str, Any], manifest: Manifest) -> dict[str, Variant]:
    """The manifest's `variants`; a manifest written before quantisation has float32 only."""
    entries = raw.get("variants")
    if entries is None:
        return {FLOAT32: Variant(FLOAT32, TFLITE, manifest.test_accuracy, None)}
    checked = _checked(entries, "", VARIANT_ARTIFACTS, ("accuracy", "msPerImage"), manifest)
    return {precision: Variant(precision, *values) for precision, values in checked.items()}


def _reader_variants(raw: Mapping[str, Any], manifest: Manifest) -> dict[str, ReaderVariant]:
    """The reader section's `variants`; a manifest written before the int8 reader has float32 only,
    with the float reader's own test metrics, and one without a reader has none."""
    if READER not in manifest.artifacts:
        return {}
    section = raw.get(READER)
    section = section if isinstance(section, dict) else {}
    entries = section.get("variants")
    if entries is None:
        test = section.get("metrics", {}).get("test", {})
        entries = {FLOAT32: {"artifact": READER, "lineAccuracy": test.get("lineAccuracy")}}
    checked = _checked(entries, f"{READER} ", READER_VARIANT_ARTIFACTS, ("lineAccuracy", "msPerLine"), manifest)
    return {precision: ReaderVariant(precision, *values) for precision, values in checked.items()}


def _checked(
    entries: Any, of: str, artifacts: Mapping[str, str], names: tuple[str, str], manifest: Manifest
) -> dict[str, tuple[str, float | None, float | None]]:
    """A `variants` object (the digit model's, or with `of` the reader's) checked: precision →
    (its artifact, its two numbers `names`, each None when absent)."""
    if not isinstance(entries, dict) or FLOAT32 not in entries:
        raise ManifestError(f"model.json: the {of}'variants' must be an object with a 'float32' entry")
    checked = {}
    for precision, entry in entries.items():
        if precision not in artifacts or not isinstance(entry, dict):
            raise ManifestError(
                f"model.json: unknown {of}variant {precision!r}; the {of}variants are {', '.join(artifacts)}"
            )
        key = entry.get("artifact")
        if key != artifacts[precision] or key not in manifest.artifacts:
            raise ManifestError(
                f"model.json: {of}variant '{precision}' must name the '{artifacts[precision]}' "
                f"artifact, and the manifest must list it"
            )
        numbers = []
        for name in names:
            value = entry.get(name)
            if value is not None and (not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0):
                raise ManifestError(f"model.json: {of}variant '{precision}' has a bad {name} {value!r}")
            numbers.append(None if value is None else float(value))
        checked[precision] = (key, *numbers)
    return checked
