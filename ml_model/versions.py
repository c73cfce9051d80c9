"""The versions in a bucket, listed with what each holds, and `latest` rolled back to an older one."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from api.runtime.manifest import LATEST, MANIFEST_NAME

from .deploy import check_version, relative_key
from .errors import DeployError, ExportError
from .latest import (
    LATEST_KEY,
    SwitchResult,
    latest_unchanged,
    open_latest,
    read_latest,
    read_manifest,
    serves,
    switch_latest,
)
from .s3 import list_sizes, make_public, s3_client, verify

if TYPE_CHECKING:
    from botocore.client import BaseClient

log = logging.getLogger(__name__)


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


def rollback(
    bucket: str, version: str | None = None, *, client: BaseClient | None = None, public_read: bool = False
) -> SwitchResult:
    """Point `latest` at `version` (default: the newest complete version older than the current one).

    The version's objects are checked against its manifest first; a missing or damaged version is
    refused and `latest` stays as it was.
    """
    client, current = open_latest(client, bucket)
    previous = current.version
    if version is None:
        version = _version_before(client, bucket, previous)
    check_version(version)
    try:
        manifest = read_manifest(client, bucket, f"{version}/{MANIFEST_NAME}")
        if manifest is None:
            known = [v.version for v in list_versions(bucket, client=client) if v.complete]
            raise DeployError(
                f"version {version} is not in s3://{bucket}/ (versions there: {', '.join(known) if known else 'none'})"
            )
        if manifest.version != version:
            raise DeployError(
                f"s3://{bucket}/{version}/{MANIFEST_NAME} is for version {manifest.version}, not the folder it is in"
            )
        for artifact in manifest.artifacts.values():
            key = f"{version}/{relative_key(artifact.path)}"
            verify(client, bucket, key, artifact.bytes, artifact.sha256)
            if public_read:
                make_public(client, bucket, key)
    except (DeployError, ExportError) as exc:
        raise DeployError(f"{exc}; {latest_unchanged(bucket, previous)}") from None
    if serves(current.manifest, manifest) and not public_read:
        log.debug("s3://%s/%s already serves %s", bucket, LATEST_KEY, version)  # the result; the caller reports it
        return SwitchResult(bucket, version, previous, changed=False)
    switch_latest(client, bucket, manifest, current, action="rollback", public_read=public_read)
    return SwitchResult(bucket, version, previous, changed=previous != version)


def list_versions(bucket: str, *, client: BaseClient | None = None) -> list[VersionInfo]:
    """Every version folder in the bucket, oldest first, with its manifest's facts and completeness."""
    client = client or s3_client()
    sizes = list_sizes(client, bucket)
    latest = read_latest(client, bucket).version
    folders = sorted({key.split("/", 1)[0] for key in sizes if "/" in key} - {LATEST})
    versions = []
    for folder in folders:
        size = sum(s for k, s in sizes.items() if k.startswith(f"{folder}/"))
        manifest_key = f"{folder}/{MANIFEST_NAME}"
        if manifest_key not in sizes:
            versions.append(
                VersionInfo(
                    folder,
                    None,
                    None,
                    None,
                    size,
                    folder == latest,
                    problem=f"no {MANIFEST_NAME}: an unfinished upload",
                )
            )
            continue
        try:
            manifest = read_manifest(client, bucket, manifest_key)
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
        versions.append(
            VersionInfo(
                folder, manifest.created, manifest.name, manifest.test_accuracy, size, folder == latest, problem
            )
        )
    return versions


def _version_before(client: BaseClient, bucket: str, current: str | None) -> str:
    if current is None:
        raise DeployError(
            f"s3://{bucket}/{LATEST_KEY} does not exist yet: nothing to roll back; name a version to switch to"
        )
    older = [v.version for v in list_versions(bucket, client=client) if v.complete and v.version < current]
    if not older:
        raise DeployError(f"no complete version older than {current} in s3://{bucket}/")
    return older[-1]
