"""`python -m ml_model import-tfjs` (ml_model.import_tfjs) refusing what it must not import: broken or
unsafe models are refused in one line naming the layer or file, with nothing written; an unreachable
source is one line; a MODEL_URL at a TF.js model gets a 503 naming the import command.

A model trained by TF.js itself, imported from a folder, over HTTP and from S3 and served with TF.js's
answers: tests/slow/test_import_tfjs.py; a source that trickles: tests/integration/test_import_tfjs.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from api.runtime.manifest import IMPORT_COMMAND
from ml_model.cli import main
from ml_model.config import parse_config
from ml_model.import_tfjs import MAX_WEIGHT_BYTES, read_tfjs
from ml_model.layers import build_network
from ml_model.tfjs import write_tfjs
from tests.support.api_support import http_event, serving, store_for
from tests.support.handler_support import invoke

SMALL_NETWORK = {
    "epochs": 1,
    "batchSize": 8,
    "validationSplit": 0,
    "savePath": "exports/x",
    "layers": [
        {
            "type": "conv2d",
            "parameters": {"inputShape": [28, 28, 1], "filters": 2, "kernelSize": 3, "activation": "relu"},
        },
        {"type": "maxPooling2d", "parameters": {"poolSize": [2, 2]}},
        {"type": "flatten"},
        {"type": "dense", "parameters": {"units": 10, "activation": "softmax"}},
    ],
}


# ---------------------------------------------------------------- refusals


@pytest.fixture(scope="module")
def small_tfjs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A TF.js layers model of an untrained small network (our writer; TF.js reads it,
    tests/integration/test_tfjs.py)."""
    folder = tmp_path_factory.mktemp("small-tfjs")
    write_tfjs(build_network(parse_config(SMALL_NETWORK)), folder)
    return folder


def _broken(small_tfjs: Path, work: Path, how: str) -> Path:
    """A copy of `small_tfjs` with one thing wrong; its model.json's path."""
    work.mkdir()
    document = json.loads((small_tfjs / "model.json").read_text())
    shard = (small_tfjs / "group1-shard1of1.bin").read_bytes()
    layers = document["modelTopology"]["config"]["layers"]
    group = document["weightsManifest"][0]
    if how == "unknown layer":
        layers[1]["class_name"] = "FancyPooling2D"
    elif how == "keras 3 config":
        layers[3].update({"module": "keras.layers", "registered_name": None})
    elif how == "shape mismatch":
        dense = next(w for w in group["weights"] if len(w["shape"]) == 2)  # the dense layer's kernel
        rows, units = dense["shape"]
        dense["shape"] = [units, rows]  # the same bytes, the wrong arrangement
    elif how == "truncated shard":
        shard = shard[:-8]
        group.pop("sha256")
    elif how == "altered shard":
        shard = shard[:-1] + bytes([shard[-1] ^ 1])
    elif how == "longer shard":
        shard += b"\0" * 4
        group.pop("sha256")
    elif how in ("escaping shard", "absolute shard", "url shard", "shard in a folder"):
        group["paths"] = [
            {
                "escaping shard": "../group1-shard1of1.bin",
                "absolute shard": "/etc/passwd",
                "url shard": "http://127.0.0.1:9/w.bin",
                "shard in a folder": "sub/w.bin",
            }[how]
        ]
    elif how == "too large":
        group["weights"].append({"name": "huge", "shape": [MAX_WEIGHT_BYTES // 4 + 1], "dtype": "float32"})
    elif how == "quantised weights":
        group["weights"][0]["quantization"] = {"dtype": "uint8", "scale": 1, "min": 0}
    elif how == "graph model":
        document["format"] = "graph-model"
    elif how == "functional model":
        document["modelTopology"]["class_name"] = "Model"
    (work / "model.json").write_text(json.dumps(document))
    (work / "group1-shard1of1.bin").write_bytes(shard)
    return work / "model.json"


REFUSALS = {
    "unknown layer": "FancyPooling2D",
    "keras 3 config": "a Keras 3 config (module, registered_name)",
    "shape mismatch": "/kernel' has shape [10, 338], the layer needs [338, 10]",
    "truncated shard": "group1-shard1of1.bin: the shards hold",
    "altered shard": "group1-shard1of1.bin: does not match its sha256",
    "longer shard": "group1-shard1of1.bin: the shards hold more than",
    "escaping shard": "shard '../group1-shard1of1.bin' must be a plain file name",
    "absolute shard": "shard '/etc/passwd' must be a plain file name",
    "url shard": "shard 'http://127.0.0.1:9/w.bin' must be a plain file name",
    "shard in a folder": "shard 'sub/w.bin' must be a plain file name",
    "too large": f"over the {MAX_WEIGHT_BYTES} an import accepts",
    "quantised weights": "only float32 weights can be imported",
    "graph model": "is not a layers model",
    "functional model": "only Sequential models",
}


@pytest.mark.parametrize("how", REFUSALS)
def test_a_broken_or_unsafe_model_is_refused_in_one_line_and_nothing_is_written(
    small_tfjs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], how: str
) -> None:
    source = _broken(small_tfjs, tmp_path / "source", how)
    exports = tmp_path / "exports"
    code = main(["import-tfjs", str(source), "--out", str(exports / "imported")])
    err = capsys.readouterr().err.strip()
    assert code == 7, err
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err, err
    assert REFUSALS[how] in err, err
    assert not exports.exists() or list(exports.iterdir()) == [], "nothing written, not even a hidden folder"


def test_the_layer_is_named_in_the_refusal(small_tfjs: Path, tmp_path: Path) -> None:
    from ml_model.errors import TfjsImportError

    source = _broken(small_tfjs, tmp_path / "source", "unknown layer")
    name = json.loads(source.read_text())["modelTopology"]["config"]["layers"][1]["config"]["name"]
    with pytest.raises(TfjsImportError, match=f"layer '{name}' \\(FancyPooling2D\\)"):
        read_tfjs(str(source))


def test_an_unreachable_source_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.support.loopback import free_port

    for source, reason in (
        (f"http://127.0.0.1:{free_port()}/model.json", "cannot connect to 127.0.0.1"),
        (str(tmp_path / "nowhere"), "nowhere: no such file"),
        ("ftp://example/model.json", "scheme 'ftp' is not supported"),
    ):
        assert main(["import-tfjs", source, "--out", str(tmp_path / "out")]) == 7
        err = capsys.readouterr().err.strip()
        assert reason in err and "\n" not in err, err
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------- the API, at a TF.js model.json


def test_model_url_at_a_tfjs_model_answers_503_naming_the_import_command(small_tfjs: Path, tmp_path: Path) -> None:
    """The original's production setting (MODEL_URL at the TF.js model.json) is recognised, not misparsed."""
    original = json.loads((small_tfjs / "model.json").read_text())
    tfjs_written = {key: original[key] for key in ("modelTopology", "weightsManifest")}  # as TF.js writes it
    tfjs_written.update({"format": "layers-model", "generatedBy": "TensorFlow.js tfjs-layers v4.22.0"})
    (tmp_path / "model.json").write_text(json.dumps(tfjs_written))
    stroke = np.zeros((28, 28), dtype=np.uint8)
    stroke[4:24, 13:16] = 255  # a "1"
    with serving(store_for(str(tmp_path / "model.json"), tmp_path / "cache")):
        for event in (http_event(body={"image": stroke.tolist()}), http_event("GET", "/model", None)):
            response = invoke(event)
            assert response["statusCode"] == 503, response
            error = json.loads(response["body"])["error"]
            assert error["code"] == "model_unavailable"
            assert "TF.js layers model" in error["message"] and IMPORT_COMMAND in error["message"], error
            assert str(tmp_path) not in error["message"]  # never a path (or a bucket)
    assert IMPORT_COMMAND.startswith('python -m ml_model import-tfjs "$MODEL_URL" --out ')
    assert "python -m ml_model deploy --export " in IMPORT_COMMAND
