"""The seed config.json (ml_model/config.json, the original project's) and copies of it with one key changed."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
SEED_CONFIG = json.loads((REPO / "ml_model" / "config.json").read_text())


def seed_with(path: str, value: Any) -> dict[str, Any]:
    """The seed config with one key set (`layers.3.parameters.filters`) or removed (value=...)."""
    raw = copy.deepcopy(SEED_CONFIG)
    *parents, last = path.split(".")
    node: Any = raw
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    key: Any = int(last) if last.isdigit() else last
    if value is ...:
        del node[key]
    else:
        node[key] = value
    return raw
