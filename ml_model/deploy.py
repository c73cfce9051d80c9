"""Deploy an export to S3 as an immutable version, switch `latest` atomically, list and roll back.

Bucket layout (any S3-compatible store):

    <version>/model.json, <version>/model.tflite, ...   one immutable folder per model version
    latest/model.json                                    the one object that changes from version to version

`latest/model.json` is the version's manifest with every artifact path rewritten to
`../<version>/<file>`; paths in a manifest resolve relative to the manifest like URLs (see
`api.runtime.manifest`). A deploy uploads and verifies the whole version folder first and then writes that
one object. A single PUT is atomic in S3, so a reader that fetches `latest/model.json` and then the
files it names always gets one complete version, and a deploy that fails or is interrupted before the
switch leaves the previous `latest` exactly as it was. A rollback is the same switch to an older,
re-verified version.

Nothing here touches the network or reads credentials until a function is called.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from api.runtime.manifest import LATEST, MANIFEST_NAME, Manifest, content_type, sha256_file

from .artifacts import verify_export
from .errors import DeployError, ExportError
from .latest import LATEST_KEY, latest_unchanged, open_latest, serves, switch_latest
from .s3 import head_object, make_public, matches, put_object, verify

if TYPE_CHECKING:
    from botocore.client import BaseClient

log = logging.getLogger(__name__)


# Version folders never change, so caches may keep them; `latest/model.json` must be revalidated.
IMMUTABLE_CACHE_CONTROL = "max-age=31536000, immutable"


MAX_SINGLE_PUT = 5 * 1024**3  # S3's limit for one PutObject; model artifacts are far smaller


_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


@dataclass(frozen=True)
class ObjectSpec:
    """One object of a version folder: where it goes, what it must be, and where its bytes are."""

    key: str
    source: Path
    bytes: int
    sha256: str
    content_type: str


@dataclass(frozen=True)
class DeployResult:
    bucket: str
    version: str
    objects: tuple[ObjectSpec, ...]
    uploaded: tuple[str, ...] = ()
    already_there: tuple[str, ...] = ()
    previous: str | None = None  # the version `latest` served before
    dry_run: bool = False
    switched: bool = False  # False when `latest` already served this version

    @property
    def latest_url(self) -> str:
        return f"s3://{self.bucket}/{LATEST_KEY}"


def plan_deploy(export_dir: str | Path) -> tuple[Manifest, tuple[ObjectSpec, ...]]:
    """Check the export against its manifest and list the objects of its version folder, model.json last."""
    export_dir = Path(export_dir)
    if not export_dir.exists():
        raise ExportError(
            f"no export at {export_dir}: train one first (python -m ml_model train) "
            "or name an export folder with --export"
        )
    if not export_dir.is_dir():
        raise ExportError(f"{export_dir} is not an export folder")
    manifest = verify_export(export_dir)
    version = check_version(manifest.version)
    objects = []
    for artifact in manifest.artifacts.values():
        relative = relative_key(artifact.path)
        source = export_dir / relative
        if artifact.bytes > MAX_SINGLE_PUT:
            raise ExportError(f"{source}: {artifact.bytes} bytes is over the 5 GiB a single S3 PUT takes")
        objects.append(
            ObjectSpec(f"{version}/{relative}", source, artifact.bytes, artifact.sha256, artifact.content_type)
        )
    manifest_path = export_dir / MANIFEST_NAME
    # The version's own manifest goes last: its presence marks the version folder as complete.
    objects.append(
        ObjectSpec(
            f"{version}/{MANIFEST_NAME}",
            manifest_path,
            manifest_path.stat().st_size,
            sha256_file(manifest_path),
            content_type(MANIFEST_NAME),
        )
    )
    return manifest, tuple(objects)


def deploy(
    export_dir: str | Path,
    bucket: str,
    *,
    client: BaseClient | None = None,
    public_read: bool = False,
    dry_run: bool = False,
) -> DeployResult:
    """Upload an export to `s3://bucket/<version>/`, verify every object, then switch `latest` to it.

    Objects already in the bucket with the right size and SHA-256 are not uploaded again, so running
    the same deploy twice is harmless. A version folder that holds a *different* manifest is refused:
    versions are immutable. Nothing under `latest/` changes unless every object of the version is
    verified; `dry_run` checks the export and returns the plan without contacting the store.
    """
    manifest, objects = plan_deploy(export_dir)
    version = manifest.version
    if dry_run:
        return DeployResult(bucket, version, objects, dry_run=True)
    client, current = open_latest(client, bucket)
    previous = current.version
    try:
        _refuse_different_version(client, bucket, objects[-1])
        uploaded, present = [], []
        for spec in objects:
            if matches(client, bucket, spec.key, spec.bytes, spec.sha256, download=False):
                present.append(spec.key)
                if public_read:
                    make_public(client, bucket, spec.key)
                log.info("already there: s3://%s/%s", bucket, spec.key)
                continue
            _upload(client, bucket, spec, public_read)
            uploaded.append(spec.key)
        for spec in objects:
            verify(client, bucket, spec.key, spec.bytes, spec.sha256)
        log.info("verified %d objects under s3://%s/%s/", len(objects), bucket, version)
    except DeployError as exc:
        raise DeployError(f"{exc}; {latest_unchanged(bucket, previous)}") from None
    switched = public_read or not serves(current.manifest, manifest)
    if switched:
        switch_latest(client, bucket, manifest, current, action="deploy", public_read=public_read)
    else:
        log.debug("s3://%s/%s already serves %s", bucket, LATEST_KEY, version)  # the result; the caller reports it
    return DeployResult(bucket, version, objects, tuple(uploaded), tuple(present), previous, switched=switched)


def check_version(version: str) -> str:
    """A manifest version usable as one S3 folder name, or a DeployError."""
    if not _VERSION.match(version) or version == LATEST:
        raise DeployError(
            f"model version {version!r} cannot name a bucket folder (letters, digits, '.', '_', '-'; not 'latest')"
        )
    return version


def relative_key(path: str) -> str:
    """An artifact path as a key inside its version folder; refuses anything that would leave it."""
    parts = PurePosixPath(path).parts
    if not parts or path.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ExportError(f"artifact path {path!r} in model.json must stay inside the export folder")
    return "/".join(parts)


def _refuse_different_version(client: BaseClient, bucket: str, manifest_spec: ObjectSpec) -> None:
    head = head_object(client, bucket, manifest_spec.key)
    if head is not None and not matches(
        client, bucket, manifest_spec.key, manifest_spec.bytes, manifest_spec.sha256, download=True, head=head
    ):
        version = manifest_spec.key.split("/", 1)[0]
        raise DeployError(
            f"s3://{bucket}/{version}/ already holds a different model with version {version}; "
            "versions are immutable, so export the model again to get a new version"
        )


def _upload(client: BaseClient, bucket: str, spec: ObjectSpec, public_read: bool) -> None:
    log.info("uploading s3://%s/%s (%s)", bucket, spec.key, format_size(spec.bytes))
    put_object(
        client,
        bucket,
        spec.key,
        spec.source,
        size=spec.bytes,
        sha256=spec.sha256,
        content_type=spec.content_type,
        cache_control=IMMUTABLE_CACHE_CONTROL,
        public_read=public_read,
        action="uploading",
    )


def format_size(count: int) -> str:
    """Bytes for people: 532 B, 1.2 MB."""
    if count < 1000:
        return f"{count} B"
    value = float(count)
    for unit in ("kB", "MB", "GB"):
        value /= 1000
        if value < 1000 or unit == "GB":
            break
    return f"{value:.1f} {unit}"
