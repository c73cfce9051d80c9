"""`python -m ml_model import-tfjs` (ml_model.import_tfjs), proven with a model written by TF.js itself:
a network trained in Node with `@tensorflow/tfjs` the way the original project's trainer does
(tests/tfjs/train.mjs), saved through a TF.js save handler, imported from a folder, over HTTP and
from S3, and served by the API with TF.js's own answers. Broken or unsafe models are refused in one
line naming the layer or file, with nothing written; a MODEL_URL at a TF.js model gets a 503 naming
the import command."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from api.runtime.manifest import FLOAT32, IMPORT_COMMAND, TFJS_MODEL, TFLITE
from api import handler
from ml_model import import_tfjs as import_module
from ml_model.cli import main
from ml_model.config import parse_config
from ml_model.export import verify_export
from ml_model.import_tfjs import MAX_WEIGHT_BYTES, import_tfjs, read_tfjs
from ml_model.layers import build_network
from ml_model.tfjs import write_tfjs
from api_support import LambdaContext, http_event, serving, store_for
from loopback import DUMMY_AWS, serve_folder
from tfjs_support import REPO, tfjs_predict, tfjs_train

TRAIN_IMAGES = 2000  # real MNIST training digits TF.js trains on, one epoch
TEST_IMAGES = 500  # real MNIST test digits TF.js and the API both answer
# The original's layer types (conv2d, maxPooling2d, flatten, dropout, dense), kept small: TF.js's pure
# JavaScript CPU backend (no tfjs-node) trains convolutions slowly.
TFJS_CONFIG = {"epochs": 1, "batchSize": 16, "validationSplit": 0.1, "layers": [
    {"type": "conv2d", "parameters": {"inputShape": [28, 28, 1], "filters": 8, "kernelSize": 3, "strides": 2,
                                      "activation": "relu"}},
    {"type": "maxPooling2d", "parameters": {"poolSize": [2, 2]}},
    {"type": "flatten"},
    {"type": "dropout", "parameters": {"rate": 0.2}},
    {"type": "dense", "parameters": {"units": 10, "activation": "softmax"}},
]}
# TF.js and LiteRT both compute in float32 with different kernels: rounding only (measured: < 1e-6).
PROBABILITY_TOLERANCE = 1e-4
# A sanity floor, not a quality bound: TF.js's accuracy on the 500 test digits after this one epoch,
# measured over five runs (TF.js's initialisers are unseeded), was 0.628-0.674; chance is 0.1.
MIN_TFJS_ACCURACY = 0.4
SMALL_NETWORK = {"epochs": 1, "batchSize": 8, "validationSplit": 0, "savePath": "exports/x", "layers": [
    {"type": "conv2d", "parameters": {"inputShape": [28, 28, 1], "filters": 2, "kernelSize": 3, "activation": "relu"}},
    {"type": "maxPooling2d", "parameters": {"poolSize": [2, 2]}},
    {"type": "flatten"},
    {"type": "dense", "parameters": {"units": 10, "activation": "softmax"}},
]}


@pytest.fixture(scope="module")
def tfjs_model(real_mnist: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    """A model trained and saved by TF.js on real MNIST; its folder and its probabilities for the test digits."""
    folder, probabilities, summary = tfjs_train(TFJS_CONFIG, real_mnist.train_images[:TRAIN_IMAGES],
                                                real_mnist.train_labels[:TRAIN_IMAGES],
                                                real_mnist.test_images[:TEST_IMAGES],
                                                tmp_path_factory.mktemp("tfjs-trained"))
    assert summary["layers"] == ["Conv2D", "MaxPooling2D", "Flatten", "Dropout", "Dense"], summary
    assert sorted(p.name for p in folder.iterdir()) == ["model.json", "weights.bin"]
    accuracy = np.mean(probabilities.argmax(axis=1) == real_mnist.test_labels[:TEST_IMAGES])
    assert accuracy >= MIN_TFJS_ACCURACY, accuracy
    return folder, probabilities


@pytest.fixture(scope="module")
def imported(tfjs_model: tuple[Path, np.ndarray], real_mnist: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return import_tfjs(str(tfjs_model[0]), tmp_path_factory.mktemp("exports") / "imported", mnist=real_mnist)


def _instances(images: np.ndarray) -> list[Any]:
    return [image[..., None].tolist() for image in images]


def _served_probabilities(model_url: str | Path, cache: Path, images: np.ndarray) -> np.ndarray:
    """What the API handler answers for `images` (TensorFlow Serving rows), MODEL_URL at `model_url`."""
    rows = []
    with serving(store_for(str(model_url), cache, runtime=TFLITE, precision=FLOAT32)):
        for start in range(0, len(images), 250):  # under MAX_BATCH_IMAGES
            response = _call(http_event(body={"instances": _instances(images[start:start + 250])}))
            assert response["statusCode"] == 200, response["body"]
            rows.extend(json.loads(response["body"])["predictions"])
    return np.array(rows, dtype=np.float32)


def _call(event: dict[str, Any]) -> dict[str, Any]:
    return handler.get_number_prediction(event, LambdaContext())


def test_a_model_trained_by_tfjs_is_served_with_the_answers_tfjs_gives(
        tfjs_model: tuple[Path, np.ndarray], imported: Path, real_mnist: Any, tmp_path: Path) -> None:
    folder, tfjs = tfjs_model
    manifest = verify_export(imported)
    source = manifest.raw["importedFrom"]
    assert source["source"] == str(folder) and source["generatedBy"].startswith("TensorFlow.js tfjs-layers")
    assert source["layers"] == ["Conv2D", "MaxPooling2D", "Flatten", "Dropout", "Dense"]
    assert source["modelJsonSha256"] == hashlib.sha256((folder / "model.json").read_bytes()).hexdigest()
    assert set(manifest.variants) == {"float32", "float16", "int8"}
    served = _served_probabilities(imported, tmp_path / "cache", real_mnist.test_images[:TEST_IMAGES])
    assert np.array_equal(served.argmax(axis=1), tfjs.argmax(axis=1))
    assert np.max(np.abs(served - tfjs)) <= PROBABILITY_TOLERANCE
    # ...and the import's own tfjs/ (written back by us) gives TF.js the same answers again.
    images = real_mnist.test_images[:TEST_IMAGES, ..., None].astype(np.float32) / 255
    (again,) = tfjs_predict([(imported / TFJS_MODEL, images)], tmp_path / "tfjs")
    assert not isinstance(again, str), again
    assert np.max(np.abs(again - tfjs)) <= PROBABILITY_TOLERANCE


def test_import_over_http_reads_the_same_model(tfjs_model: tuple[Path, np.ndarray], imported: Path) -> None:
    from_folder = verify_export(imported).raw["importedFrom"]
    with serve_folder(tfjs_model[0]) as server:
        over_http = read_tfjs(f"{server.url}/model.json")
        assert server.hits == {"/model.json": 1, "/weights.bin": 1}
    assert over_http.imported_from["weightsSha256"] == from_folder["weightsSha256"]
    assert over_http.imported_from["modelJsonSha256"] == from_folder["modelJsonSha256"]
    assert over_http.imported_from["source"] == f"{server.url}/model.json"


def test_import_from_s3_through_the_cli_then_deploy_and_serve(
        tfjs_model: tuple[Path, np.ndarray], imported: Path, real_mnist: Any, moto_endpoint: str, aws_env: None,
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The whole move, as a user makes it: the original's bucket (`s3://BUCKET/model.json`) imported by
    the command, deployed, and served by the API from `s3://BUCKET/latest/model.json` with TF.js's answers."""
    from ml_model.deploy import deploy
    from ml_model.s3 import s3_client

    folder = tfjs_model[0]
    bucket = f"tfjs-{uuid.uuid4().hex[:8]}"
    client = s3_client(moto_endpoint)
    client.create_bucket(Bucket=bucket)
    for file in folder.iterdir():
        client.put_object(Bucket=bucket, Key=file.name, Body=file.read_bytes())
    out = tmp_path / "exports" / "from-s3"
    env = {**os.environ, **DUMMY_AWS, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "ml_model", "import-tfjs", f"s3://{bucket}/model.json", "--out",
                           str(out), "--endpoint-url", moto_endpoint], capture_output=True, text=True, cwd=tmp_path,
                          env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and f"python -m ml_model deploy --export {out}" in done.stdout
    manifest = verify_export(out)
    assert manifest.raw["importedFrom"]["source"] == f"s3://{bucket}/model.json"
    assert manifest.raw["importedFrom"]["weightsSha256"] == verify_export(imported).raw["importedFrom"]["weightsSha256"]
    assert (out.parent / "latest").resolve() == out.resolve()
    result = deploy(out, bucket, client=client)
    assert f"{result.version}/{TFJS_MODEL}" in {spec.key for spec in result.objects}  # the TF.js model goes too
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    served = _served_probabilities(f"s3://{bucket}/latest/model.json", tmp_path / "cache",
                                   real_mnist.test_images[:TEST_IMAGES])
    assert np.array_equal(served.argmax(axis=1), tfjs_model[1].argmax(axis=1))
    assert np.max(np.abs(served - tfjs_model[1])) <= PROBABILITY_TOLERANCE


def test_an_export_that_fails_its_verification_is_never_renamed_into_place(
        tfjs_model: tuple[Path, np.ndarray], real_mnist: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The check between assembling and renaming really stops it: with a tolerance no model meets."""
    from ml_model.errors import TfjsImportError

    monkeypatch.setattr(import_module, "VERIFY_TOLERANCE", -1.0)
    exports = tmp_path / "exports"
    with pytest.raises(TfjsImportError, match="model.tflite does not compute what the imported model does"):
        import_tfjs(str(tfjs_model[0]), exports / "imported", mnist=real_mnist)
    assert list(exports.iterdir()) == [], "no export, no hidden folder, no latest link"


# ---------------------------------------------------------------- refusals


@pytest.fixture(scope="module")
def small_tfjs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A TF.js layers model of an untrained small network (our writer; TF.js reads it, tests/test_tfjs.py)."""
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
        group["paths"] = [{"escaping shard": "../group1-shard1of1.bin", "absolute shard": "/etc/passwd",
                           "url shard": "http://127.0.0.1:9/w.bin", "shard in a folder": "sub/w.bin"}[how]]
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
        small_tfjs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], how: str) -> None:
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
    from loopback import free_port

    for source, reason in ((f"http://127.0.0.1:{free_port()}/model.json", "cannot connect to 127.0.0.1"),
                           (str(tmp_path / "nowhere"), "nowhere: no such file"),
                           ("ftp://example/model.json", "scheme 'ftp' is not supported")):
        assert main(["import-tfjs", source, "--out", str(tmp_path / "out")]) == 7
        err = capsys.readouterr().err.strip()
        assert reason in err and "\n" not in err, err
    assert not (tmp_path / "out").exists()


def test_a_source_that_trickles_is_cut_off_at_the_deadline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    import threading
    import time
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Trickle(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            self.send_response(200)
            self.send_header("Content-Length", "100000")
            self.end_headers()
            try:
                for _ in range(50):  # 10 bytes every 50 ms: each read is quick, the whole never arrives
                    self.wfile.write(b" " * 10)
                    self.wfile.flush()
                    time.sleep(0.05)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the importer gave up: the point

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet test output
            pass

    monkeypatch.setattr(import_module, "FETCH_DEADLINE", 0.5)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Trickle)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        code = main(["import-tfjs", f"http://127.0.0.1:{server.server_address[1]}/model.json", "--out",
                     str(tmp_path / "out")])
    finally:
        server.shutdown()
        server.server_close()
    err = capsys.readouterr().err.strip()
    assert code == 7 and "model.json: too slow" in err and "\n" not in err, err
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
            response = _call(event)
            assert response["statusCode"] == 503, response
            error = json.loads(response["body"])["error"]
            assert error["code"] == "model_unavailable"
            assert "TF.js layers model" in error["message"] and IMPORT_COMMAND in error["message"], error
            assert str(tmp_path) not in error["message"]  # never a path (or a bucket)
    assert IMPORT_COMMAND.startswith('python -m ml_model import-tfjs "$MODEL_URL" --out ')
    assert "python -m ml_model deploy --export " in IMPORT_COMMAND
