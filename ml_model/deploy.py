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

import hashlib
import json
import logging
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from api.runtime.manifest import LATEST, MANIFEST_NAME, Manifest, ManifestError, content_type, parse_manifest, sha256_file

from .errors import DeployError, ExportError
from .export import verify_export
from .s3 import (
    check_bucket, error_code, get_with_etag, head_object, is_conditional_failure, list_sizes, make_public, matches,
    put_object, s3_client, verify,
)

if TYPE_CHECKING:
    from botocore.client import BaseClient

log = logging.getLogger(__name__)

LATEST_KEY = f"{LATEST}/{MANIFEST_NAME}"
# Version folders never change, so caches may keep them; `latest/model.json` must be revalidated.
IMMUTABLE_CACHE_CONTROL = "max-age=31536000, immutable"
LATEST_CACHE_CONTROL = "no-cache"
MAX_SINGLE_PUT = 5 * 1024**3  # S3's limit for one PutObject; model artifacts are far smaller
_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


# ---------------------------------------------------------------------------------------------
# Results


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


@dataclass(frozen=True)
class SwitchResult:
    bucket: str
    version: str
    previous: str | None
    changed: bool


@dataclass(frozen=True)
class VersionInfo:
    version: str
    created: str | None
    name: str | None
    test_accuracy: float | None
    bytes: int
    latest: bool
    problem: str | None = None  # why the version cannot be served (incomplete upload, bad manifest)

    @property
    def complete(self) -> bool:
        return self.problem is None


# ---------------------------------------------------------------------------------------------
# Deploy


def plan_deploy(export_dir: str | Path) -> tuple[Manifest, tuple[ObjectSpec, ...]]:
    """Check the export against its manifest and list the objects of its version folder, model.json last."""
    export_dir = Path(export_dir)
    if not export_dir.exists():
        raise ExportError(f"no export at {export_dir}: train one first (python -m ml_model train) "
                          "or name an export folder with --export")
    if not export_dir.is_dir():
        raise ExportError(f"{export_dir} is not an export folder")
    manifest = verify_export(export_dir)
    version = check_version(manifest.version)
    objects = []
    for artifact in manifest.artifacts.values():
        relative = _relative_key(artifact.path)
        source = export_dir / relative
        if artifact.bytes > MAX_SINGLE_PUT:
            raise ExportError(f"{source}: {artifact.bytes} bytes is over the 5 GiB a single S3 PUT takes")
        objects.append(ObjectSpec(f"{version}/{relative}", source, artifact.bytes, artifact.sha256,
                                  artifact.content_type))
    manifest_path = export_dir / MANIFEST_NAME
    # The version's own manifest goes last: its presence marks the version folder as complete.
    objects.append(ObjectSpec(f"{version}/{MANIFEST_NAME}", manifest_path, manifest_path.stat().st_size,
                              sha256_file(manifest_path), content_type(MANIFEST_NAME)))
    return manifest, tuple(objects)


def deploy(export_dir: str | Path, bucket: str, *, client: "BaseClient | None" = None,
           public_read: bool = False, dry_run: bool = False) -> DeployResult:
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
    client, current = _open(client, bucket)
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
        raise DeployError(f"{exc}; {_latest_unchanged(bucket, previous)}") from None
    switched = public_read or not _serves(current.manifest, manifest)
    if switched:
        _switch_latest(client, bucket, manifest, current, action="deploy", public_read=public_read)
    else:
        log.debug("s3://%s/%s already serves %s", bucket, LATEST_KEY, version)  # the result; the caller reports it
    return DeployResult(bucket, version, objects, tuple(uploaded), tuple(present), previous, switched=switched)


def check_version(version: str) -> str:
    """A manifest version usable as one S3 folder name, or a DeployError."""
    if not _VERSION.match(version) or version == LATEST:
        raise DeployError(f"model version {version!r} cannot name a bucket folder "
                          "(letters, digits, '.', '_', '-'; not 'latest')")
    return version


def _relative_key(path: str) -> str:
    """An artifact path as a key inside its version folder; refuses anything that would leave it."""
    parts = PurePosixPath(path).parts
    if not parts or path.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ExportError(f"artifact path {path!r} in model.json must stay inside the export folder")
    return "/".join(parts)


def _refuse_different_version(client: "BaseClient", bucket: str, manifest_spec: ObjectSpec) -> None:
    head = head_object(client, bucket, manifest_spec.key)
    if head is not None and not matches(client, bucket, manifest_spec.key, manifest_spec.bytes,
                                         manifest_spec.sha256, download=True, head=head):
        version = manifest_spec.key.split("/", 1)[0]
        raise DeployError(f"s3://{bucket}/{version}/ already holds a different model with version {version}; "
                          "versions are immutable, so export the model again to get a new version")


def _upload(client: "BaseClient", bucket: str, spec: ObjectSpec, public_read: bool) -> None:
    log.info("uploading s3://%s/%s (%s)", bucket, spec.key, format_size(spec.bytes))
    put_object(client, bucket, spec.key, spec.source, size=spec.bytes, sha256=spec.sha256,
               content_type=spec.content_type, cache_control=IMMUTABLE_CACHE_CONTROL, public_read=public_read,
               action="uploading")


# ---------------------------------------------------------------------------------------------
# The latest switch, rollback and listing


def rollback(bucket: str, version: str | None = None, *, client: "BaseClient | None" = None,
             public_read: bool = False) -> SwitchResult:
    """Point `latest` at `version` (default: the newest complete version older than the current one).

    The version's objects are checked against its manifest first; a missing or damaged version is
    refused and `latest` stays as it was.
    """
    client, current = _open(client, bucket)
    previous = current.version
    if version is None:
        version = _version_before(client, bucket, previous)
    check_version(version)
    try:
        manifest = _read_manifest(client, bucket, f"{version}/{MANIFEST_NAME}")
        if manifest is None:
            known = [v.version for v in list_versions(bucket, client=client) if v.complete]
            raise DeployError(f"version {version} is not in s3://{bucket}/ "
                              f"(versions there: {', '.join(known) if known else 'none'})")
        if manifest.version != version:
            raise DeployError(f"s3://{bucket}/{version}/{MANIFEST_NAME} is for version {manifest.version}, "
                              "not the folder it is in")
        for artifact in manifest.artifacts.values():
            key = f"{version}/{_relative_key(artifact.path)}"
            verify(client, bucket, key, artifact.bytes, artifact.sha256)
            if public_read:
                make_public(client, bucket, key)
    except (DeployError, ExportError) as exc:
        raise DeployError(f"{exc}; {_latest_unchanged(bucket, previous)}") from None
    if _serves(current.manifest, manifest) and not public_read:
        log.debug("s3://%s/%s already serves %s", bucket, LATEST_KEY, version)  # the result; the caller reports it
        return SwitchResult(bucket, version, previous, changed=False)
    _switch_latest(client, bucket, manifest, current, action="rollback", public_read=public_read)
    return SwitchResult(bucket, version, previous, changed=previous != version)


def list_versions(bucket: str, *, client: "BaseClient | None" = None) -> list[VersionInfo]:
    """Every version folder in the bucket, oldest first, with its manifest's facts and completeness."""
    client = client or s3_client()
    sizes = list_sizes(client, bucket)
    latest = _read_latest(client, bucket).version
    folders = sorted({key.split("/", 1)[0] for key in sizes if "/" in key} - {LATEST})
    versions = []
    for folder in folders:
        size = sum(s for k, s in sizes.items() if k.startswith(f"{folder}/"))
        manifest_key = f"{folder}/{MANIFEST_NAME}"
        if manifest_key not in sizes:
            versions.append(VersionInfo(folder, None, None, None, size, folder == latest,
                                        problem=f"no {MANIFEST_NAME}: an unfinished upload"))
            continue
        try:
            manifest = _read_manifest(client, bucket, manifest_key)
        except DeployError as exc:
            versions.append(VersionInfo(folder, None, None, None, size, folder == latest, problem=str(exc)))
            continue
        assert manifest is not None  # listed a moment ago
        problem = None
        for artifact in manifest.artifacts.values():
            key = f"{folder}/{artifact.path}"
            if sizes.get(key) != artifact.bytes:
                problem = f"{artifact.path} is {'missing' if key not in sizes else 'the wrong size'}"
                break
        versions.append(VersionInfo(folder, manifest.created, manifest.name, manifest.test_accuracy, size,
                                    folder == latest, problem))
    return versions


def _version_before(client: "BaseClient", bucket: str, current: str | None) -> str:
    if current is None:
        raise DeployError(f"s3://{bucket}/{LATEST_KEY} does not exist yet: nothing to roll back; "
                          "name a version to switch to")
    older = [v.version for v in list_versions(bucket, client=client) if v.complete and v.version < current]
    if not older:
        raise DeployError(f"no complete version older than {current} in s3://{bucket}/")
    return older[-1]


def _switch_latest(client: "BaseClient", bucket: str, manifest: Manifest, current: "_Latest", *,
                   action: str, public_read: bool) -> None:
    """Write `latest/model.json` naming `../<version>/...`: one PUT, so readers see old or new, never both.

    The PUT is conditional on `latest/model.json` being what this command read at its start
    (If-Match its ETag, or If-None-Match when there was none), so a deploy or rollback that ran
    meanwhile is never silently overwritten. Stores without conditional writes get a plain PUT.
    """
    version, previous = manifest.version, current.version
    data = _latest_manifest(manifest, action, previous)
    digest = hashlib.sha256(data).hexdigest()

    def put(**conditions: str) -> str | None:
        """None once written; the error code when a condition (or its lack of support) stopped it."""
        from botocore.exceptions import ClientError

        try:
            put_object(client, bucket, LATEST_KEY, data, size=len(data), sha256=digest,
                       content_type=content_type(MANIFEST_NAME), cache_control=LATEST_CACHE_CONTROL,
                       public_read=public_read, action="switching", metadata={"model-version": version},
                       passthrough=is_conditional_failure, **conditions)
        except ClientError as exc:
            return error_code(exc)
        return None

    try:
        refused = put(**({"IfMatch": current.etag} if current.etag else {"IfNoneMatch": "*"}))
        if refused == "NotImplemented":
            log.warning("the store does not support conditional writes; switching latest unconditionally")
            refused = put()
        # A retried PUT whose first attempt landed fails its own condition: that is our write, not a rival's.
        if refused is not None and matches(client, bucket, LATEST_KEY, len(data), digest, download=True):
            refused = None
    except DeployError as exc:
        # A failed single PUT leaves the old object; a lost answer to a PUT that landed leaves the new one.
        raise DeployError(f"{exc}; s3://{bucket}/{LATEST_KEY} serves either {previous or 'nothing'} as before "
                          f"or the complete {version}: run the command again") from None
    if refused is not None:
        raise DeployError(f"s3://{bucket}/{LATEST_KEY} changed while this command ran (another deploy or "
                          f"rollback?), so it was not switched to {version} ({refused}); check with "
                          "`python -m ml_model versions` and run the command again")
    try:
        verify(client, bucket, LATEST_KEY, len(data), digest)
    except DeployError as exc:
        raise DeployError(f"{exc}; the switch to {version} was written but could not be read back: "
                          "check with `python -m ml_model versions`") from None
    # The command's result, which the caller reports (the CLI prints it): debug here, not said twice.
    log.debug("s3://%s/%s now serves %s (was %s)", bucket, LATEST_KEY, version, previous or "nothing")


def _latest_manifest(manifest: Manifest, action: str, previous: str | None) -> bytes:
    """`latest/model.json` for `manifest`: its paths through `../<version>/`, and what switched it."""
    version = manifest.version
    body = manifest.with_artifact_prefix(f"../{version}/")
    body["deployment"] = {
        "version": version,
        "manifest": f"../{version}/{MANIFEST_NAME}",
        "action": action,
        "at": datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "previous": previous,
    }
    return (json.dumps(body, indent=2) + "\n").encode("utf-8")


@dataclass(frozen=True)
class _Latest:
    """`latest/model.json` as read at the start of a command."""

    manifest: Manifest | None  # None when missing or not a manifest
    etag: str | None  # None when missing

    @property
    def version(self) -> str | None:
        return self.manifest.version if self.manifest else None


def _open(client: "BaseClient | None", bucket: str) -> tuple["BaseClient", _Latest]:
    """The client (a default one if none), after checking the bucket, and `latest` as it is now."""
    client = client or s3_client()
    check_bucket(client, bucket)
    return client, _read_latest(client, bucket)


def _read_latest(client: "BaseClient", bucket: str) -> _Latest:
    found = get_with_etag(client, bucket, LATEST_KEY)
    if found is None:
        return _Latest(None, None)
    data, etag = found
    try:
        return _Latest(parse_manifest(data), etag)
    except ManifestError as exc:
        log.warning("s3://%s/%s is not a valid manifest (%s); a switch will replace it", bucket, LATEST_KEY, exc)
        return _Latest(None, etag)


def _serves(latest: Manifest | None, manifest: Manifest) -> bool:
    """Whether `latest` already names exactly this version's files."""
    if latest is None or latest.version != manifest.version:
        return False
    expected = {k: (f"../{manifest.version}/{a.path}", a.bytes, a.sha256) for k, a in manifest.artifacts.items()}
    return {k: (a.path, a.bytes, a.sha256) for k, a in latest.artifacts.items()} == expected


def _latest_unchanged(bucket: str, previous: str | None) -> str:
    if previous is None:
        return f"s3://{bucket}/{LATEST_KEY} was not created"
    return f"s3://{bucket}/{LATEST_KEY} still serves {previous}"


# ---------------------------------------------------------------------------------------------
# Small helpers


def _read_manifest(client: "BaseClient", bucket: str, key: str) -> Manifest | None:
    """The manifest at `key`, None when it does not exist, a DeployError when it is not one."""
    found = get_with_etag(client, bucket, key)
    if found is None:
        return None
    try:
        return parse_manifest(found[0])
    except ManifestError as exc:
        raise DeployError(f"s3://{bucket}/{key} is not a valid manifest: {exc}") from None


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
