"""MODEL_URL's forms and what they point at, and the failures that need no model: an unreachable
server or S3 endpoint named by its host alone, no MODEL_URL at all.

Loading the trained export from every source (a path, a file:// URL, a loopback HTTP server, moto's S3
with the real deploy step), verifying it, caching it and failing safely: tests/slow/test_model_store.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from api.errors import ModelUnavailable
from api.runtime.manifest import MANIFEST_NAME
from api.runtime.sources import FetchError, FileSource, HttpSource, S3Source, Source, locate
from tests.support.api_support import store_for
from tests.support.loopback import free_port

# ---------------------------------------------------------------- URL forms


@pytest.mark.parametrize(
    "url, kind, location",
    [
        ("http://localhost:3000/latest/model.json", HttpSource, "http://localhost:3000/latest/model.json"),
        ("https://b.s3.amazonaws.com/latest/", HttpSource, "https://b.s3.amazonaws.com/latest/model.json"),
        ("https://b.s3.amazonaws.com", HttpSource, "https://b.s3.amazonaws.com/model.json"),
        ("s3://bucket/latest/model.json", S3Source, "bucket/latest/model.json"),
        ("s3://bucket/latest/", S3Source, "bucket/latest/model.json"),
        ("file:///srv/exports/latest/model.json", FileSource, "/srv/exports/latest/model.json"),
        ("/srv/exports/latest/model.json", FileSource, "/srv/exports/latest/model.json"),
    ],
)
def test_model_url_forms(url: str, kind: type, location: str) -> None:
    assert locate(url) == kind(location)


def test_a_folder_path_means_its_model_json(tmp_path: Path) -> None:
    assert locate(str(tmp_path)) == FileSource(str(tmp_path / MANIFEST_NAME))
    assert locate(tmp_path.as_uri()) == FileSource(str(tmp_path / MANIFEST_NAME))


@pytest.mark.parametrize(
    "url, fragment",
    [
        ("ftp://host/model.json", "not supported"),
        ("s3://bucket", "bucket and a key"),
        ("s3:///latest/model.json", "bucket and a key"),
        ("http:///model.json", "no host"),
    ],
)
def test_unsupported_model_urls(url: str, fragment: str) -> None:
    with pytest.raises(FetchError, match=fragment):
        locate(url)


@pytest.mark.parametrize(
    "manifest, relative, expected",
    [
        (HttpSource("http://h:3000/latest/model.json"), "model.tflite", "http://h:3000/latest/model.tflite"),
        (
            HttpSource("http://h:3000/latest/model.json"),
            "../2026-11-26T10-07-19Z/model.tflite",
            "http://h:3000/2026-11-26T10-07-19Z/model.tflite",
        ),
        (
            S3Source("bucket/latest/model.json"),
            "../2026-11-26T10-07-19Z/model.tflite",
            "bucket/2026-11-26T10-07-19Z/model.tflite",
        ),
        (S3Source("bucket/model.json"), "v1/./model.tflite", "bucket/v1/model.tflite"),
        (FileSource("/srv/exports/latest/model.json"), "../v2/model.tflite", "/srv/exports/v2/model.tflite"),
    ],
)
def test_artifact_paths_resolve_like_urls(manifest: Source, relative: str, expected: str) -> None:
    assert manifest.join(relative).location == expected


@pytest.mark.parametrize(
    "manifest",
    [HttpSource("http://h/latest/model.json"), S3Source("bucket/latest/model.json"), FileSource("/srv/model.json")],
)
@pytest.mark.parametrize("relative", ["../../model.tflite", "/etc/passwd", "..\\model.tflite"])
def test_artifact_paths_cannot_leave_the_root(manifest: Source, relative: str) -> None:
    with pytest.raises(FetchError):
        manifest.join(relative)


# ---------------------------------------------------------------- failures


@pytest.mark.parametrize("userinfo", ["", "reader:s3cr3t@"])
def test_an_unreachable_server_answers_503_naming_its_host(tmp_path: Path, userinfo: str) -> None:
    host = f"127.0.0.1:{free_port()}"
    store = store_for(f"http://{userinfo}{host}/private/latest/model.json", tmp_path / "cache")
    with pytest.raises(ModelUnavailable, match=f"model.json: cannot connect to {host} ") as failure:
        store.model()
    assert "s3cr3t" not in failure.value.message and "/private/" not in failure.value.message


def test_an_unreachable_s3_endpoint_is_named_by_its_host(
    tmp_path: Path, aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    host = f"127.0.0.1:{free_port()}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://{host}")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    store = store_for("s3://private-bucket/latest/model.json", tmp_path / "cache")
    with pytest.raises(ModelUnavailable, match=f"cannot connect to {host} ") as failure:
        store.model()
    assert "private-bucket" not in failure.value.message


def test_no_model_url_answers_503(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable, match="MODEL_URL is not set"):
        store_for("", tmp_path).model()
