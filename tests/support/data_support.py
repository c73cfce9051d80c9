"""MNIST's four IDX files by name, the checksums of a folder of them, and what a fetch leaves behind."""

from __future__ import annotations

from pathlib import Path

from ml_model.data import SHA256, sha256_file

NAMES = list(SHA256)


def checksums(folder: Path) -> dict[str, str]:
    return {name: sha256_file(folder / name) for name in NAMES}


def leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.startswith(".")]
