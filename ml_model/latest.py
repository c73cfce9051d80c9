"""`latest/model.json`, the one object a deploy or a rollback changes: reading it, switching it in one PUT."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from api.runtime.manifest import LATEST, MANIFEST_NAME, Manifest, ManifestError, content_type, parse_manifest

from .errors import DeployError
from .s3 import check_bucket, error_code, get_with_etag, is_conditional_failure, matches, put_object, s3_client, verify

if TYPE_CHECKING:
    from botocore.client import BaseClient


log = logging.getLogger(__name__)


LATEST_KEY = f"{LATEST}/{MANIFEST_NAME}"


LATEST_CACHE_CONTROL = "no-cache"


@dataclass(frozen=True)
class SwitchResult:
    bucket: str
    version: str
    previous: str | None
    changed: bool


def switch_latest(
    client: BaseClient, bucket: str, manifest: Manifest, current: _Latest, *, action: str, public_read: bool
) -> None:
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
            put_object(
                client,
                bucket,
                LATEST_KEY,
                data,
                size=len(data),
                sha256=digest,
                content_type=content_type(MANIFEST_NAME),
                cache_control=LATEST_CACHE_CONTROL,
                public_read=public_read,
                action="switching",
                metadata={"model-version": version},
                passthrough=is_conditional_failure,
                **conditions,
            )
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
        raise DeployError(
            f"{exc}; s3://{bucket}/{LATEST_KEY} serves either {previous or 'nothing'} as before "
            f"or the complete {version}: run the command again"
        ) from None
    if refused is not None:
        raise DeployError(
            f"s3://{bucket}/{LATEST_KEY} changed while this command ran (another deploy or "
            f"rollback?), so it was not switched to {version} ({refused}); check with "
            "`python -m ml_model versions` and run the command again"
        )
    try:
        verify(client, bucket, LATEST_KEY, len(data), digest)
    except DeployError as exc:
        raise DeployError(
            f"{exc}; the switch to {version} was written but could not be read back: "
            "check with `python -m ml_model versions`"
        ) from None
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
        "at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
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


def open_latest(client: BaseClient | None, bucket: str) -> tuple[BaseClient, _Latest]:
    """The client (a default one if none), after checking the bucket, and `latest` as it is now."""
    client = client or s3_client()
    check_bucket(client, bucket)
    return client, read_latest(client, bucket)


def read_latest(client: BaseClient, bucket: str) -> _Latest:
    found = get_with_etag(client, bucket, LATEST_KEY)
    if found is None:
        return _Latest(None, None)
    data, etag = found
    try:
        return _Latest(parse_manifest(data), etag)
    except ManifestError as exc:
        log.warning("s3://%s/%s is not a valid manifest (%s); a switch will replace it", bucket, LATEST_KEY, exc)
        return _Latest(None, etag)


def serves(latest: Manifest | None, manifest: Manifest) -> bool:
    """Whether `latest` already names exactly this version's files."""
    if latest is None or latest.version != manifest.version:
        return False
    expected = {k: (f"../{manifest.version}/{a.path}", a.bytes, a.sha256) for k, a in manifest.artifacts.items()}
    return {k: (a.path, a.bytes, a.sha256) for k, a in latest.artifacts.items()} == expected


def latest_unchanged(bucket: str, previous: str | None) -> str:
    if previous is None:
        return f"s3://{bucket}/{LATEST_KEY} was not created"
    return f"s3://{bucket}/{LATEST_KEY} still serves {previous}"


def read_manifest(client: BaseClient, bucket: str, key: str) -> Manifest | None:
    """The manifest at `key`, None when it does not exist, a DeployError when it is not one."""
    found = get_with_etag(client, bucket, key)
    if found is None:
        return None
    try:
        return parse_manifest(found[0])
    except ManifestError as exc:
        raise DeployError(f"s3://{bucket}/{key} is not a valid manifest: {exc}") from None
