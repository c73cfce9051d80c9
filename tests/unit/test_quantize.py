"""Which variant the API serves: `auto` takes the fastest variant within a tenth of a point of float32's
accuracy (never float16), a variant the model lacks is named with the ones it has, bad variants are refused.

The quantised models themselves, big batches and more threads on the trained export:
tests/slow/test_quantize.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from api.runtime.manifest import MANIFEST_NAME, ManifestError, parse_manifest
from tests.support.fake_exports import make_fake_export

# ---------------------------------------------------------------------------------------------
# Which variant the API serves


def manifest_with(variants: dict[str, Any] | None, tmp_path: Path) -> Any:
    """A parsed manifest of a fake export carrying the given `variants` (artifacts named as they need)."""
    folder = make_fake_export(tmp_path, "m", "2026-11-28T10-00-00Z", link_latest=False)
    raw = json.loads((folder / MANIFEST_NAME).read_text())
    if variants is not None:
        for precision, entry in variants.items():
            key = {"float32": "tflite", "float16": "tflite_float16", "int8": "tflite_int8"}.get(precision, precision)
            entry.setdefault("artifact", key)
            raw["artifacts"].setdefault(key, {**raw["artifacts"]["tflite"], "path": f"model-{precision}.tflite"})
        raw["variants"] = variants
    return parse_manifest(raw)


@pytest.mark.parametrize(
    "variants, auto",
    [
        (None, "float32"),  # a manifest from before quantisation
        ({"float32": {"accuracy": 0.99, "msPerImage": 0.30}, "int8": {"accuracy": 0.9895, "msPerImage": 0.10}}, "int8"),
        (
            {"float32": {"accuracy": 0.99, "msPerImage": 0.30}, "int8": {"accuracy": 0.9889, "msPerImage": 0.10}},
            "float32",
        ),
        (
            {
                "float32": {"accuracy": 0.99, "msPerImage": 0.30},
                "float16": {"accuracy": 0.99, "msPerImage": 0.29},
                "int8": {"accuracy": 0.99, "msPerImage": 0.40},
            },
            "float32",
        ),  # 3 % faster is timing noise
        (
            {
                "float32": {"accuracy": 0.99, "msPerImage": 0.30},
                "float16": {"accuracy": 0.991, "msPerImage": 0.20},
                "int8": {"accuracy": 0.9905, "msPerImage": 0.15},
            },
            "int8",
        ),
        ({"float32": {"accuracy": None, "msPerImage": 0.30}, "int8": {"accuracy": 0.99, "msPerImage": 0.1}}, "float32"),
        # float16 computes in float32: a faster timing can only be noise, so auto never picks it
        (
            {
                "float32": {"accuracy": 0.99, "msPerImage": 0.30},
                "float16": {"accuracy": 0.99, "msPerImage": 0.20},
                "int8": {"accuracy": 0.99, "msPerImage": 0.40},
            },
            "float32",
        ),
    ],
)
def test_auto_serves_the_fastest_variant_within_a_tenth_of_a_point(variants: Any, auto: str, tmp_path: Path) -> None:
    manifest = manifest_with(variants, tmp_path)
    assert manifest.variant("auto").precision == auto
    for precision in manifest.variants:
        assert manifest.variant(precision).precision == precision


def test_asking_for_a_variant_the_model_lacks_says_which_it_has(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="no int8 variant .*it has float32.*MODEL_PRECISION"):
        manifest_with(None, tmp_path).variant("int8")


@pytest.mark.parametrize(
    "variants, message",
    [
        ({"int8": {"accuracy": 0.9}}, "'float32' entry"),
        ({"float32": {}, "bfloat16": {}}, "unknown variant 'bfloat16'"),
        ({"float32": {"artifact": "savedmodel"}}, "must name the 'tflite' artifact"),
        ({"float32": {"accuracy": "high"}}, "bad accuracy"),
        ({"float32": {"msPerImage": -1}}, "bad msPerImage"),
    ],
)
def test_bad_variants_are_refused(variants: Any, message: str, tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match=message):
        manifest_with(variants, tmp_path)
