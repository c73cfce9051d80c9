"""Which variant the API serves: `auto` takes the fastest variant within a tenth of a point of float32's
accuracy (never float16), a variant the model lacks is named with the ones it has, bad variants are refused.
The same for the number reader: `auto` takes int8 within half a point of float32's line accuracy when it
is faster, an export from before the int8 reader serves float32 (and refuses `int8` by name).

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


# ---------------------------------------------------------------------------------------------
# Which number reader the API serves


def reader_manifest(tmp_path: Path, variants: dict[str, Any] | None, line_accuracy: float = 0.8) -> Any:
    """A parsed manifest of a fake export with a number reader: `reader.tflite` whose section records
    `line_accuracy`, and the given reader `variants` (None: a reader from before the int8 one)."""
    folder = make_fake_export(tmp_path, "m", "2026-11-28T10-00-00Z", link_latest=False)
    raw = json.loads((folder / MANIFEST_NAME).read_text())
    raw["artifacts"]["reader"] = {**raw["artifacts"]["tflite"], "path": "reader.tflite"}
    raw["reader"] = {"metrics": {"test": {"lineAccuracy": line_accuracy, "lines": 1000, "msPerLine": 4.1}}}
    if variants is not None:
        for precision, entry in variants.items():
            key = {"float32": "reader", "int8": "reader_int8"}.get(precision, precision)
            entry.setdefault("artifact", key)
            raw["artifacts"].setdefault(key, {**raw["artifacts"]["tflite"], "path": f"reader-{precision}.tflite"})
        raw["reader"]["variants"] = variants
    return parse_manifest(raw)


@pytest.mark.parametrize(
    "int8, auto",
    [
        ({"lineAccuracy": 0.816, "msPerLine": 3.06}, "int8"),  # as measured on the full reader
        ({"lineAccuracy": 0.810, "msPerLine": 3.06}, "int8"),  # half a point below: still within
        ({"lineAccuracy": 0.809, "msPerLine": 3.06}, "float32"),  # more than half a point below
        ({"lineAccuracy": 0.815, "msPerLine": 3.80}, "float32"),  # 7 % faster is timing noise
        ({"lineAccuracy": 0.815, "msPerLine": 5.00}, "float32"),  # slower
        ({"lineAccuracy": None, "msPerLine": 3.06}, "float32"),  # not measured
        ({"lineAccuracy": 0.815, "msPerLine": None}, "float32"),
    ],
)
def test_auto_serves_the_int8_reader_within_half_a_point_and_faster(int8: Any, auto: str, tmp_path: Path) -> None:
    manifest = reader_manifest(tmp_path, {"float32": {"lineAccuracy": 0.815, "msPerLine": 4.10}, "int8": int8})
    assert manifest.reader_variant("auto").precision == auto
    # Asked for by name, a variant is served whatever it measured; float16 has no reader of its own.
    assert manifest.reader_variant("int8").precision == "int8"
    assert manifest.reader_variant("float32").precision == "float32"
    assert manifest.reader_variant("float16").precision == "float32"


def test_a_reader_from_before_the_int8_one_serves_float32_and_refuses_int8_by_name(tmp_path: Path) -> None:
    manifest = reader_manifest(tmp_path, None, line_accuracy=0.815)
    assert list(manifest.reader_variants) == ["float32"]
    assert manifest.reader_variants["float32"].line_accuracy == 0.815
    for precision in ("auto", "float32", "float16"):
        assert manifest.reader_variant(precision).artifact == "reader"
    # As for a digit variant the export lacks: the operator asked for int8, so say how to get it.
    with pytest.raises(ManifestError, match=r"no int8 number reader \(it has float32\).*ml_model quantize.*auto"):
        manifest.reader_variant("int8")


def test_an_export_without_a_reader_has_no_reader_variants(tmp_path: Path) -> None:
    manifest = manifest_with(None, tmp_path)
    assert manifest.reader_variants == {}
    with pytest.raises(ManifestError, match="no 'reader' artifact"):
        manifest.reader_variant("auto")


@pytest.mark.parametrize(
    "variants, message",
    [
        ({"int8": {"lineAccuracy": 0.8}}, "'float32' entry"),
        ({"float32": {}, "float16": {}}, "unknown reader variant 'float16'"),
        ({"float32": {"artifact": "tflite"}}, "must name the 'reader' artifact"),
        ({"float32": {"lineAccuracy": "high"}}, "bad lineAccuracy"),
        ({"float32": {"msPerLine": -1}}, "bad msPerLine"),
    ],
)
def test_bad_reader_variants_are_refused(variants: Any, message: str, tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match=message):
        reader_manifest(tmp_path, variants)
