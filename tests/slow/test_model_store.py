"""Loading the model from every MODEL_URL form, verifying it, caching it, and failing safely.

Real sources only: a path, a file:// URL, a loopback HTTP server, and moto's S3 server with a
model deployed by the real deploy step (so `latest/model.json` names `../<version>/...` files).
The URL forms, and the failures that need no model: tests/unit/test_model_store.py.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import threading
import uuid
from pathlib import Path

import numpy as np
import pytest

from api.errors import ModelUnavailable
from api.runtime.manifest import MANIFEST_NAME, SAVEDMODEL, TFLITE, VARIANT_ARTIFACTS
from api.runtime.model_store import ModelStore
from api.runtime.settings import Settings
from tests.support.api_support import Clock, leftovers, store_for
from tests.support.loopback import serve_folder


@pytest.fixture
def digits(real_mnist) -> tuple[np.ndarray, np.ndarray]:
    return real_mnist.test_images[:200, ..., np.newaxis] / 255.0, real_mnist.test_labels[:200]


def assert_reads_digits(store: ModelStore, digits: tuple[np.ndarray, np.ndarray]) -> None:
    images, labels = digits
    accuracy = (store.model().predictor.predict(images).argmax(1) == labels).mean()
    assert accuracy > 0.93


# ---------------------------------------------------------------- URL forms


# ---------------------------------------------------------------- loading


@pytest.mark.parametrize("form", ["folder", "model.json", "file-url", "latest-link"])
def test_loads_from_a_local_export(mnist_export: Path, tmp_path: Path, digits, form: str) -> None:
    url = {
        "folder": str(mnist_export),
        "model.json": str(mnist_export / MANIFEST_NAME),
        "file-url": mnist_export.as_uri(),
        "latest-link": str(mnist_export.parent / "latest"),
    }[form]
    store = store_for(url, tmp_path / "cache", precision="auto")  # as the API serves by default
    assert store.loaded is None
    assert_reads_digits(store, digits)
    model = store.loaded
    assert model is not None and model.runtime == TFLITE
    assert model.info == {
        "version": model.manifest.version,
        "name": "small",
        "runtime": TFLITE,
        "precision": model.manifest.variant("auto").precision,
    }
    artifact = model.manifest.artifact(VARIANT_ARTIFACTS[model.info["precision"]])
    cached = tmp_path / "cache" / f"{artifact.sha256}.tflite"
    assert hashlib.sha256(cached.read_bytes()).hexdigest() == artifact.sha256
    assert leftovers(tmp_path / "cache") == []


def test_both_runtimes_give_the_same_probabilities(mnist_export: Path, tmp_path: Path, digits) -> None:
    images, _ = digits
    lite = store_for(str(mnist_export), tmp_path / "cache", runtime=TFLITE).model()
    tf = store_for(str(mnist_export), tmp_path / "cache", runtime=SAVEDMODEL).model()
    assert (lite.runtime, tf.runtime) == (TFLITE, SAVEDMODEL)
    np.testing.assert_allclose(lite.predictor.predict(images), tf.predictor.predict(images), atol=1e-4)
    # The SavedModel came from the archive, unpacked into the cache beside it.
    digest = tf.manifest.artifact(SAVEDMODEL).sha256
    assert (tmp_path / "cache" / f"{digest}.unpacked" / "saved_model" / "saved_model.pb").is_file()


def test_model_runtime_environment_variable_chooses(
    mnist_export: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODEL_RUNTIME", "savedmodel")
    monkeypatch.setenv("MODEL_URL", str(mnist_export))
    monkeypatch.setenv("MODEL_CACHE_DIR", str(tmp_path / "cache"))
    assert ModelStore(Settings.from_env()).model().runtime == SAVEDMODEL


def test_loads_over_http_once_and_caches_by_digest(mnist_export: Path, tmp_path: Path, digits) -> None:
    with serve_folder(mnist_export.parent) as server:
        url = f"{server.url}/latest/model.json"
        assert_reads_digits(store_for(url, tmp_path / "cache"), digits)
        assert server.hits == {"/latest/model.json": 1, "/latest/model.tflite": 1}
        # A new process (cold start) with the same /tmp reads model.json but reuses the verified file.
        store_for(url, tmp_path / "cache").model()
        assert server.hits == {"/latest/model.json": 2, "/latest/model.tflite": 1}
        # Concurrent first requests in one process load once.
        store = store_for(url, tmp_path / "other-cache", runtime=SAVEDMODEL)
        barrier = threading.Barrier(8)
        results: list[object] = []

        def first_request() -> None:
            barrier.wait()
            results.append(store.model())

        threads = [threading.Thread(target=first_request) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert len(results) == 8 and all(r is results[0] for r in results)
        assert server.hits["/latest/saved_model.tar.gz"] == 1 and server.hits["/latest/model.json"] == 3


def test_loads_from_s3_through_the_deployed_latest(
    mnist_export: Path, tmp_path: Path, digits, moto_endpoint: str, aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole production flow: the real deploy step, then the loader follows s3://BUCKET/latest/model.json."""
    from ml_model.deploy import deploy
    from ml_model.s3 import s3_client

    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    client = s3_client(moto_endpoint)
    bucket = f"models-{uuid.uuid4().hex[:8]}"  # the moto server lives for the whole session
    client.create_bucket(Bucket=bucket)
    result = deploy(mnist_export, bucket, client=client)
    latest = json.loads(client.get_object(Bucket=bucket, Key="latest/model.json")["Body"].read())
    assert latest["artifacts"]["tflite"]["path"].startswith("../")  # the layout this test is about
    store = store_for(f"s3://{bucket}/latest/model.json", tmp_path / "cache")
    assert_reads_digits(store, digits)
    assert store.model().manifest.version == result.version
    # A quantised variant is followed through latest/ the same way.
    int8 = store_for(f"s3://{bucket}/latest/model.json", tmp_path / "cache", runtime=TFLITE, precision="int8").model()
    images, labels = digits
    assert int8.info["precision"] == "int8" and (int8.predictor.predict(images).argmax(1) == labels).mean() > 0.9
    with pytest.raises(ModelUnavailable, match="S3 error NoSuchKey"):
        store_for(f"s3://{bucket}/nothing/model.json", tmp_path / "cache").model()


# ---------------------------------------------------------------- failures


def _tamper(export: Path, how: str) -> None:
    tflite = export / "model.tflite"
    manifest = json.loads((export / MANIFEST_NAME).read_text())
    if how == "missing":
        tflite.unlink()
    elif how == "altered":
        data = bytearray(tflite.read_bytes())
        data[len(data) // 2] ^= 0xFF
        tflite.write_bytes(bytes(data))
    elif how == "truncated":
        tflite.write_bytes(tflite.read_bytes()[:-100])
    elif how == "longer":
        tflite.write_bytes(tflite.read_bytes() + b"\0" * 100)
    elif how == "manifest-not-json":
        (export / MANIFEST_NAME).write_text("{not json")
    elif how == "manifest-missing":
        (export / MANIFEST_NAME).unlink()
    elif how == "manifest-wrong-format":
        manifest["format"] = "tfjs-layers-model"
        (export / MANIFEST_NAME).write_text(json.dumps(manifest))
    elif how == "path-escapes":
        manifest["artifacts"]["tflite"]["path"] = "../../../../../../../../../../etc/passwd"
        (export / MANIFEST_NAME).write_text(json.dumps(manifest))
    elif how == "not-a-model":
        data = b"\0" * 256
        manifest["artifacts"]["tflite"].update(bytes=len(data), sha256=hashlib.sha256(data).hexdigest())
        tflite.write_bytes(data)
        (export / MANIFEST_NAME).write_text(json.dumps(manifest))


@pytest.mark.parametrize(
    "how, fragment",
    [
        ("missing", "model.tflite: HTTP 404"),
        ("altered", "does not match its sha256"),
        ("truncated", "bytes, model.json says"),
        ("longer", "larger than"),
        ("manifest-not-json", "not valid JSON"),
        ("manifest-missing", "model.json: HTTP 404"),
        ("manifest-wrong-format", "not a number-prediction/model manifest"),
        ("path-escapes", "leaves the model's root"),
        ("not-a-model", "could not be loaded: ValueError"),
    ],
)
def test_a_bad_model_answers_503_and_is_never_cached(
    export_copy: Path, tmp_path: Path, how: str, fragment: str
) -> None:
    _tamper(export_copy, how)
    cache = tmp_path / "cache"
    with serve_folder(export_copy.parent) as server:
        store = store_for(f"{server.url}/small/model.json", cache)
        with pytest.raises(ModelUnavailable, match=fragment) as failure:
            store.model()
    assert failure.value.retry_after == 5 and failure.value.headers == {"Retry-After": "5"}
    assert store.loaded is None
    assert leftovers(cache) == []  # no half-written file
    if how in ("altered", "truncated", "longer"):
        assert list(cache.iterdir()) == []  # a mismatched file never enters the cache


def test_a_failure_is_remembered_briefly_then_retried(export_copy: Path, tmp_path: Path, digits) -> None:
    good = (export_copy / "model.tflite").read_bytes()
    _tamper(export_copy, "missing")
    clock = Clock()
    with serve_folder(export_copy.parent) as server:
        store = store_for(f"{server.url}/small/model.json", tmp_path / "cache", clock=clock)
        with pytest.raises(ModelUnavailable):
            store.model()
        assert server.hits["/small/model.tflite"] == 1
        (export_copy / "model.tflite").write_bytes(good)  # the fix is deployed
        clock.now += 3
        with pytest.raises(ModelUnavailable) as failure:
            store.model()  # still inside the window: answered at once, nothing fetched
        assert failure.value.retry_after == 2 and server.hits["/small/model.tflite"] == 1
        clock.now += 2
        assert_reads_digits(store, digits)  # the window is over: the next request loads
        assert server.hits["/small/model.tflite"] == 2 and server.hits["/small/model.json"] == 2


def test_a_corrupted_cache_file_is_fetched_again(mnist_export: Path, tmp_path: Path, digits) -> None:
    cache = tmp_path / "cache"
    model = store_for(str(mnist_export), cache).model()
    cached = cache / f"{model.manifest.artifact(TFLITE).sha256}.tflite"
    cached.write_bytes(b"garbage")
    assert_reads_digits(store_for(str(mnist_export), cache), digits)
    assert hashlib.sha256(cached.read_bytes()).hexdigest() == model.manifest.artifact(TFLITE).sha256


@pytest.mark.parametrize("member", ["../evil.txt", "other/file.txt", "/abs/file.txt"])
def test_a_savedmodel_archive_with_files_outside_saved_model_is_refused(
    export_copy: Path, tmp_path: Path, member: str
) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo(member)
        info.size = 4
        archive.addfile(info, io.BytesIO(b"evil"))
    data = buffer.getvalue()
    (export_copy / "saved_model.tar.gz").write_bytes(data)
    manifest = json.loads((export_copy / MANIFEST_NAME).read_text())
    manifest["artifacts"]["savedmodel"].update(bytes=len(data), sha256=hashlib.sha256(data).hexdigest())
    (export_copy / MANIFEST_NAME).write_text(json.dumps(manifest))
    with pytest.raises(ModelUnavailable, match="outside 'saved_model/'"):
        store_for(str(export_copy), tmp_path / "cache", runtime=SAVEDMODEL).model()
    assert not (tmp_path / "evil.txt").exists() and leftovers(tmp_path / "cache") == []


def test_the_manifest_alone_is_read_for_get_model(mnist_export: Path, tmp_path: Path) -> None:
    with serve_folder(mnist_export.parent) as server:
        store = store_for(f"{server.url}/latest/model.json", tmp_path / "cache")
        assert store.manifest().name == "small" and store.loaded is None
        assert store.runtime() == TFLITE
        store.model()
        assert server.hits == {"/latest/model.json": 1, "/latest/model.tflite": 1}
