"""The trained export through deploy and back: what `latest` names on moto's S3 downloads into an
export that verifies, its quantised variants and TF.js files included.

The S3 `client` and a fresh `bucket` come from conftest.py; every other deploy, versions and
rollback test (fake exports, failing endpoints, the command line) is tests/integration/test_deploy.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from api.runtime.manifest import MANIFEST_NAME, parse_manifest
from ml_model.deploy import deploy
from tests.support.s3_support import load_latest

pytestmark = [pytest.mark.network, pytest.mark.timeout(120)]


def test_a_real_export_round_trips(client: Any, bucket: str, mnist_export: Path, tmp_path: Path) -> None:
    """The trained export deploys, and what latest names downloads into an export that verifies."""
    from ml_model.artifacts import verify_export

    result = deploy(mnist_export, bucket, client=client)
    loaded = load_latest(client, bucket)
    assert loaded.manifest.version == result.version
    # The quantised variants travel like any artifact, and latest names them.
    assert {"tflite_float16", "tflite_int8"} <= set(loaded.manifest.artifacts) <= set(loaded.files)
    assert set(loaded.manifest.variants) == {"float32", "float16", "int8"}
    copy = tmp_path / "downloaded"
    copy.mkdir()
    for key, artifact in parse_manifest((mnist_export / MANIFEST_NAME).read_bytes()).artifacts.items():
        (copy / artifact.path).parent.mkdir(parents=True, exist_ok=True)  # tfjs/ shards sit in a folder
        (copy / artifact.path).write_bytes(loaded.files[key])
    (copy / MANIFEST_NAME).write_bytes(
        client.get_object(Bucket=bucket, Key=f"{result.version}/{MANIFEST_NAME}")["Body"].read()
    )
    assert verify_export(copy).version == result.version
