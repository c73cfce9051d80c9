"""An export folder's primitives: its version name, artifact entries, assembling it in a hidden folder,
moving it into place, the `latest` link, and checking it against its manifest.

Shared by `export` (which writes exports), `quantize` (which rewrites them) and `evaluate`, `deploy` and
`import_tfjs` (which check them); it imports none of those.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from api.runtime.manifest import (
    FLOAT16,
    INT8,
    LATEST,
    MANIFEST_NAME,
    VARIANT_FILES,
    Manifest,
    ManifestError,
    content_type,
    parse_manifest,
    sha256_file,
)

from .errors import ExportError

# The quantised variants' files, which an export carries beside the float32 model.tflite.
QUANTISED_FILES = {p: VARIANT_FILES[p] for p in (FLOAT16, INT8)}
VERSION_FORMAT = "%Y-%m-%dT%H-%M-%SZ"


def new_version(now: datetime | None = None) -> str:
    """A model version: the UTC export time, usable as an S3 prefix and sortable as text."""
    return (now or datetime.now(UTC)).strftime(VERSION_FORMAT)


def artifact_entry(folder: Path, filename: str) -> dict[str, Any]:
    """The manifest's entry for the file `folder/filename`."""
    path = folder / filename
    return {
        "path": filename,
        "bytes": path.stat().st_size,
        "sha256": sha256_file(path),
        "contentType": content_type(filename),
    }


@contextmanager
def assembling(export_dir: Path) -> Iterator[Path]:
    """A hidden path beside `export_dir` to build an export in (not yet created), moved into place when
    the block succeeds and removed when it fails: no half-written export ever has the real name."""
    export_dir.parent.mkdir(parents=True, exist_ok=True)
    partial = export_dir.parent / f".{export_dir.name}.partial-{uuid.uuid4().hex[:8]}"
    try:
        yield partial
        move_into_place(partial, export_dir)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise


def move_into_place(partial: Path, export_dir: Path) -> None:
    """Rename the finished folder to its name; an older export of that name is removed after."""
    old = None
    if export_dir.exists() or export_dir.is_symlink():
        old = export_dir.with_name(f".{export_dir.name}.old-{uuid.uuid4().hex[:8]}")
        os.replace(export_dir, old)
    os.replace(partial, export_dir)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True) if not old.is_symlink() else old.unlink()


def point_latest(export_dir: Path) -> Path:
    """Make `<root>/latest` a relative link to `export_dir`, switched in one rename."""
    latest = export_dir.parent / LATEST
    link = export_dir.parent / f".{LATEST}.{uuid.uuid4().hex[:8]}"
    os.symlink(export_dir.name, link, target_is_directory=True)
    if latest.is_dir() and not latest.is_symlink():
        shutil.rmtree(latest)  # a copied folder from elsewhere; a link replaces it from now on
    os.replace(link, latest)
    return latest


def verify_export(export_dir: str | Path) -> Manifest:
    """The export's manifest, after checking every artifact's presence, size and SHA-256."""
    export_dir = Path(export_dir)
    manifest_path = export_dir / MANIFEST_NAME
    if not manifest_path.is_file():
        raise ExportError(f"{export_dir}: no {MANIFEST_NAME} here; is this an export folder?")
    try:
        manifest = parse_manifest(manifest_path.read_bytes())
    except ManifestError as exc:
        raise ExportError(f"{manifest_path}: {exc}") from None
    for artifact in manifest.artifacts.values():
        path = export_dir / artifact.path
        if not path.is_file():
            raise ExportError(f"{export_dir}: {artifact.path} is missing")
        if path.stat().st_size != artifact.bytes or sha256_file(path) != artifact.sha256:
            raise ExportError(f"{export_dir}: {artifact.path} does not match model.json (size or sha256)")
    return manifest


def write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
