"""Training end to end: a small run on generated IDX data, the export layout, both runtimes agreeing.

`python -m ml_model evaluate` on a folder that is not an export needs no training:
tests/integration/test_cli.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest

from api.runtime.manifest import FORMAT, MANIFEST_NAME, parse_manifest, sha256_file
from api.runtime.predictor import LiteRTPredictor, SavedModelPredictor, open_export
from ml_model.artifacts import verify_export
from ml_model.config import parse_config
from ml_model.data import FolderSource, Mnist, load_mnist, to_model_input
from ml_model.errors import ExportError
from ml_model.export import export_model
from ml_model.train import train
from tests.support.api_support import NATIVE_NOISE

REPO = Path(__file__).resolve().parents[2]

TINY = {
    "epochs": 1,
    "batchSize": 16,
    "validationSplit": 0.1,
    "savePath": "exports/tiny",
    "seed": 11,
    "optimizer": "adam",
    "layers": [
        {
            "type": "conv2d",
            "parameters": {"inputShape": [28, 28, 1], "filters": 4, "kernelSize": 3, "activation": "relu"},
        },
        {"type": "maxPooling2d", "parameters": {"poolSize": 2}},
        {"type": "flatten"},
        {"type": "dense", "parameters": {"units": 10, "activation": "softmax"}},
    ],
}


@pytest.fixture(scope="module")
def synthetic(synthetic_idx_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Mnist:
    sums = {p.name: sha256_file(p) for p in synthetic_idx_dir.iterdir()}
    return load_mnist(
        cache_dir=tmp_path_factory.mktemp("cache"), sources=[FolderSource(synthetic_idx_dir)], checksums=sums
    )


@pytest.fixture(scope="module")
def tiny_export(synthetic: Mnist, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tiny") / "exports" / "tiny"
    train(parse_config(TINY), mnist=synthetic, export_dir=out, progress=False)
    return out


def test_export_layout_and_manifest(tiny_export: Path) -> None:
    names = sorted(p.name for p in tiny_export.iterdir())
    assert names == [
        "history.json",
        "history.png",
        "model-float16.tflite",
        "model-int8.tflite",
        "model.json",
        "model.tflite",
        "saved_model",
        "saved_model.tar.gz",
        "tfjs",
    ]
    latest = tiny_export.parent / "latest"
    assert latest.is_symlink() and latest.resolve() == tiny_export.resolve()
    assert [p.name for p in tiny_export.parent.iterdir() if p.name.startswith(".")] == []

    manifest = verify_export(latest)
    raw = json.loads((tiny_export / MANIFEST_NAME).read_text())
    assert raw["format"] == FORMAT and raw["name"] == "tiny" and raw["signature"] == "serving_default"
    assert raw["input"]["shape"] == [None, 28, 28, 1] and raw["labels"] == [str(d) for d in range(10)]
    assert raw["config"] == TINY
    assert set(raw["metrics"]["test"]) == {"loss", "accuracy", "count"} and raw["metrics"]["test"]["count"] == 200
    assert raw["training"]["epochs"] == 1 and raw["training"]["peakMemoryMB"] > 0
    assert {"tensorflow", "keras", "numpy", "python"} <= set(raw["versions"])
    # Each .tflite variant, measured on the test set through LiteRT; float32's accuracy is Keras's.
    assert set(manifest.variants) == {"float32", "float16", "int8"}
    for entry in raw["variants"].values():
        assert entry["count"] == 200 and 0 <= entry["accuracy"] <= 1 and entry["msPerImage"] > 0
        assert manifest.artifacts[entry["artifact"]].path.endswith(".tflite")
    assert abs(raw["variants"]["float32"]["accuracy"] - raw["metrics"]["test"]["accuracy"]) < 1e-6
    assert raw["variants"]["float32"]["agreement"] == 1.0
    for artifact in manifest.artifacts.values():
        path = tiny_export / artifact.path
        assert path.stat().st_size == artifact.bytes and sha256_file(path) == artifact.sha256
    history = json.loads((tiny_export / "history.json").read_text())
    assert set(history) == {"loss", "accuracy", "val_loss", "val_accuracy"} and len(history["loss"]) == 1
    assert (tiny_export / "history.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with tarfile.open(tiny_export / "saved_model.tar.gz") as archive:
        assert "saved_model/saved_model.pb" in archive.getnames()


def test_smoke_run_learns_and_both_runtimes_agree(tiny_export: Path, synthetic: Mnist) -> None:
    images = to_model_input(synthetic.test_images)
    lite = LiteRTPredictor(tiny_export / "model.tflite").predict(images)
    saved = SavedModelPredictor(tiny_export / "saved_model").predict(images)
    assert lite.shape == saved.shape == (200, 10)
    assert np.allclose(lite.sum(axis=1), 1.0, atol=1e-5)
    assert np.abs(lite - saved).max() < 1e-4
    assert (lite.argmax(axis=1) == synthetic.test_labels).mean() > 0.9
    # Batch sizes that change between calls resize the interpreter and give the same rows.
    predictor = open_export(tiny_export, "tflite")
    assert np.abs(predictor.predict(images[:1]) - lite[:1]).max() < 1e-6
    assert np.abs(predictor.predict(images[5:12]) - lite[5:12]).max() < 1e-6


def test_seeded_training_is_reproducible(synthetic: Mnist, tmp_path: Path) -> None:
    probabilities = []
    for run in ("a", "b"):
        out = train(parse_config(TINY), mnist=synthetic, export_dir=tmp_path / run / "tiny", progress=False).export_dir
        probabilities.append(open_export(out, "tflite").predict(to_model_input(synthetic.test_images[:50])))
    assert np.array_equal(probabilities[0], probabilities[1])


def test_failed_export_leaves_previous_export_and_latest(tiny_export: Path, tmp_path: Path) -> None:
    import keras

    root = tmp_path / "exports"
    good = export_model(
        keras.models.clone_model(_model_of(tiny_export)),
        root / "tiny",
        config=TINY,
        metrics={"accuracy": 0.5},
        history={"loss": [1.0]},
    )
    before = (good / MANIFEST_NAME).read_bytes()
    with pytest.raises(ValueError):  # the history cannot be written: fails after the model files
        export_model(
            keras.models.clone_model(_model_of(tiny_export)),
            root / "tiny",
            config=TINY,
            metrics={"accuracy": 0.9},
            history={"loss": ["not a number"]},
        )
    assert (good / MANIFEST_NAME).read_bytes() == before
    assert (root / "latest").resolve() == good.resolve()
    assert verify_export(root / "latest").version == parse_manifest(before).version
    assert [p.name for p in root.iterdir() if p.name.startswith(".")] == []


def _model_of(export_dir: Path):  # a Keras model of the same architecture, rebuilt from the config
    from ml_model.layers import build_network

    return build_network(parse_config(json.loads((export_dir / MANIFEST_NAME).read_text())["config"]))


def test_export_refuses_the_name_latest(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="latest"):
        export_model(None, tmp_path / "latest", config={}, metrics={}, history={})  # type: ignore[arg-type]


@pytest.mark.parametrize("damage", ["missing", "changed"])
def test_verify_export_detects_damage(tiny_export: Path, tmp_path: Path, damage: str) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(tiny_export, copy)
    if damage == "missing":
        (copy / "model.tflite").unlink()
    else:
        with (copy / "model.tflite").open("r+b") as f:
            f.seek(100)
            f.write(b"\x00\x01\x02")
    with pytest.raises(ExportError, match="model.tflite"):
        verify_export(copy)


# --- Real MNIST ---------------------------------------------------------------------------------


@pytest.mark.network
def test_runtimes_agree_on_real_mnist(mnist_export: Path, real_mnist: Mnist) -> None:
    images = to_model_input(real_mnist.test_images[:1000])
    lite = open_export(mnist_export, "tflite").predict(images)
    saved = open_export(mnist_export, "savedmodel").predict(images)
    assert np.abs(lite - saved).max() < 1e-4
    assert (lite.argmax(axis=1) == real_mnist.test_labels[:1000]).mean() > 0.95


def user_env() -> dict[str, str]:
    """The environment of a user's shell: no TF_CPP_MIN_LOG_LEVEL (the tests set one for themselves)."""
    return {**{k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}, "MNIST_MIRRORS": ""}


@pytest.mark.network
@pytest.mark.parametrize("runtime", ["tflite", "savedmodel"])
def test_evaluate_cli(mnist_export: Path, runtime: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ml_model", "evaluate", str(mnist_export), "--runtime", runtime, "--json"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
        env=user_env(),
    )
    assert done.returncode == 0, done.stderr
    assert not NATIVE_NOISE.search(done.stderr), done.stderr  # no LiteRT / TensorFlow start-up lines
    results = json.loads(done.stdout)
    raw = json.loads((mnist_export / MANIFEST_NAME).read_text())
    # LiteRT: one line per .tflite variant, each as the export measured it; TensorFlow: the SavedModel.
    expected = ["float32", "float16", "int8"] if runtime == "tflite" else ["float32"]
    assert [scores["precision"] for scores in results] == expected
    for scores in results:
        recorded = raw["metrics"]["test"] if runtime == "savedmodel" else raw["variants"][scores["precision"]]
        assert scores["runtime"] == runtime and scores["count"] == 10_000
        assert abs(scores["accuracy"] - recorded["accuracy"]) < 1e-3
        assert abs(scores["loss"] - recorded["loss"]) < 1e-3


@pytest.mark.network
def test_train_cli_on_real_mnist(small_config_path: Path, real_mnist: Mnist, tmp_path: Path) -> None:
    """The command users run: epoch lines, the test result, an export and `latest` beside it."""
    out = tmp_path / "exports" / "cli"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "ml_model",
            "train",
            "--config",
            str(small_config_path),
            "--epochs",
            "1",
            "--export-dir",
            str(out),
            # The number reader too, as users get it, but small and brief (its quality is not the point here).
            "--reader-config",
            str(REPO / "tests" / "data" / "tiny_reader.json"),
            "--reader-epochs",
            "1",
            "--reader-lines",
            "320",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=600,
        env=user_env(),
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert not NATIVE_NOISE.search(done.stderr), done.stderr[-2000:]  # TensorFlow's C++ logging stays off
    assert "epoch 1/1  loss " in done.stderr and "val_accuracy" in done.stderr
    assert "test accuracy 0.9" in done.stdout
    assert "epoch 1/1  loss " in done.stderr.split("Training the number reader")[-1]  # the reader's epoch line
    assert "number reader: " in done.stdout and "test lines read right" in done.stdout
    assert (out / "reader.tflite").is_file() and (out / "reader-int8.tflite").is_file()
    assert "number reader, int8: " in done.stdout
    assert (tmp_path / "exports" / "latest").resolve() == out.resolve()
    assert verify_export(out).raw["config"]["epochs"] == 1
