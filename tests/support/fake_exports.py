"""Cheap stand-ins for trained exports: real files and a real manifest, random model bytes.

Deploy and the model server only move and check files, so two distinct versions can be made in
milliseconds instead of training twice.
"""

from __future__ import annotations

import json
import os
import tarfile
from pathlib import Path

import numpy as np

from api.runtime.manifest import (
    FORMAT,
    FORMAT_VERSION,
    LABELS,
    MANIFEST_NAME,
    SAVED_MODEL_DIR,
    content_type,
    sha256_file,
)
from ml_model.export import FILES, point_latest

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def make_fake_export(
    root: Path,
    name: str,
    version: str,
    *,
    seed: int = 0,
    accuracy: float = 0.98,
    tflite_bytes: int = 96_000,
    link_latest: bool = True,
) -> Path:
    """Write `root/name/` with every file of an export and a manifest that verifies; returns the folder."""
    rng = np.random.default_rng(seed)
    folder = root / name
    (folder / SAVED_MODEL_DIR).mkdir(parents=True)
    (folder / SAVED_MODEL_DIR / "saved_model.pb").write_bytes(rng.bytes(4_000))
    with tarfile.open(folder / FILES["savedmodel"], "w:gz") as archive:
        archive.add(folder / SAVED_MODEL_DIR, arcname=SAVED_MODEL_DIR)
    (folder / FILES["tflite"]).write_bytes(rng.bytes(tflite_bytes))
    (folder / FILES["history"]).write_text(json.dumps({"loss": [0.5, 0.2], "accuracy": [0.9, accuracy]}))
    (folder / FILES["curves"]).write_bytes(PNG_SIGNATURE + rng.bytes(2_000))
    artifacts = {
        key: {
            "path": filename,
            "bytes": (folder / filename).stat().st_size,
            "sha256": sha256_file(folder / filename),
            "contentType": content_type(filename),
        }
        for key, filename in FILES.items()
    }
    manifest = {
        "format": FORMAT,
        "formatVersion": FORMAT_VERSION,
        "version": version,
        "name": name,
        "created": version[:13] + ":" + version[14:16] + ":" + version[17:],
        "labels": list(LABELS),
        "artifacts": artifacts,
        "metrics": {"test": {"loss": 0.05, "accuracy": accuracy}},
    }
    (folder / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n")
    if link_latest:
        point_latest(folder)
    return folder


def corrupt(path: Path) -> None:
    """Flip one byte in place, keeping the size (so only the checksum can tell)."""
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    os.utime(path)
