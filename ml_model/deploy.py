"""Deploy an export to S3 as an immutable version, switch `latest` atomically, list and roll back.

Bucket layout (any S3-compatible store):

    <version>/model.json, <version>/model.tflite, ...   one immutable folder per model version
    latest/model.json                                    the one object that changes from version to version

`latest/model.json` is the version's manifest with every artifact path rewritten to
`../<version>/<file>`; paths in a manifest resolve relative to the manifest like URLs (see
`api.manifest`). A deploy uploads and verifies the whole version folder first and then writes that
one object. A single PUT is atomic in S3, so a reader that fetches `latest/model.json` and then the
files it names always gets one complete version, and a deploy that fails or is interrupted before the
switch leaves the previous `latest` exactly as it was. A rollback is the same switch to an older,
re-verified version.

Nothing here touches the network or reads credentials until a function is called.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from api.manifest import MANIFEST_NAME, Manifest, ManifestError, content_type, parse_manifest

from .data import sha256_file
from .errors import BucketNotFound, DeployError, ExportError
from .export import verify_export

if TYPE_CHECKING:
    from botocore.client import BaseClient

log = logging.getLogger(__name__)

BUCKET_VARIABLE = "MODEL_BUCKET_NAME"
LATEST = "latest"
LATEST_KEY = f"{LATEST}/{MANIFEST_NAME}"
# Version folders never change, so caches may keep them; `latest/model.json` must be revalidated.
IMMUTABLE_CACHE_CONTROL = "max-age=31536000, immutable"
LATEST_CACHE_CONTROL = "no-cache"
SHA256_METADATA = "sha256"  # x-amz-meta-sha256: the hex digest, for stores without S3 checksums
PUBLIC_READ_ACL = "public-read"
MAX_SINGLE_PUT = 5 * 1024**3  # S3's limit for one PutObject; model artifacts are far smaller
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 60.0
_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_ENV_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
_READ_CHUNK = 1 << 20


# ---------------------------------------------------------------------------------------------
# Configuration: .env.<env> files and the S3 client


def env_files(env: str, cwd: Path | None = None) -> list[Path]:
    """The `.env.<env>` files that exist, in the order they are read: the current folder, then the repo root."""
    if not _ENV_NAME.match(env):
        raise DeployError(f"bad environment name {env!r}: use letters, digits, '-', '_' or '.'")
    folders = [Path(cwd or Path.cwd()).resolve(), Path(__file__).resolve().parents[1]]
    found: list[Path] = []
    for folder in folders:
        path = folder / f".env.{env}"
        if path.is_file() and path not in found:
            found.append(path)
    return found


def load_env(env: str, cwd: Path | None = None) -> list[Path]:
    """Read `.env.<env>` into the environment without overriding real variables; returns the files read."""
    from dotenv import load_dotenv

    files = env_files(env, cwd)
    for path in files:
        load_dotenv(path, override=False)  # real environment first, then the nearer file
        log.debug("read %s", path)
    return files


def bucket_name(explicit: str | None, env: str, files: Sequence[Path]) -> str:
    """`explicit` (the --bucket flag), else $MODEL_BUCKET_NAME; a one-line error naming where we looked."""
    bucket = (explicit or os.environ.get(BUCKET_VARIABLE) or "").strip()
    if not bucket:
        where = ", ".join(str(p) for p in files) if files else f"no .env.{env} found in the current folder or the repo root"
        raise DeployError(f"{BUCKET_VARIABLE} is not set ({where}); set it in .env.{env}, "
                          "in the environment, or pass --bucket")
    return bucket


def s3_client(endpoint_url: str | None = None, *, max_attempts: int | None = None,
              connect_timeout: float = CONNECT_TIMEOUT, read_timeout: float = READ_TIMEOUT) -> "BaseClient":
    """An S3 client from the standard credential chain, profile and region.

    `AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL` are honoured by botocore itself; `endpoint_url` overrides
    them. Retries follow `AWS_MAX_ATTEMPTS` / `AWS_RETRY_MODE` unless `max_attempts` is given.
    """
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError

    options: dict[str, Any] = {"connect_timeout": connect_timeout, "read_timeout": read_timeout}
    if max_attempts is not None:
        options["retries"] = {"total_max_attempts": max_attempts, "mode": "standard"}
    try:
        return boto3.session.Session().client("s3", endpoint_url=endpoint_url or None, config=Config(**options))
    except (BotoCoreError, ValueError) as exc:  # ProfileNotFound, a malformed endpoint URL or region
        raise DeployError(_one_line(f"cannot set up the S3 client: {exc}")) from None


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
    client = client or s3_client()
    _check_bucket(client, bucket)
    current = _read_latest(client, bucket)
    previous = current.version
    try:
        _refuse_different_version(client, bucket, objects[-1])
        uploaded, present = [], []
        for spec in objects:
            if _matches(client, bucket, spec.key, spec.bytes, spec.sha256, download=False):
                present.append(spec.key)
                if public_read:
                    _make_public(client, bucket, spec.key)
                log.info("already there: s3://%s/%s", bucket, spec.key)
                continue
            _upload(client, bucket, spec, public_read)
            uploaded.append(spec.key)
        for spec in objects:
            _verify(client, bucket, spec.key, spec.bytes, spec.sha256)
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
    head = _head(client, bucket, manifest_spec.key)
    if head is not None and not _matches(client, bucket, manifest_spec.key, manifest_spec.bytes,
                                         manifest_spec.sha256, download=True, head=head):
        version = manifest_spec.key.split("/", 1)[0]
        raise DeployError(f"s3://{bucket}/{version}/ already holds a different model with version {version}; "
                          "versions are immutable, so export the model again to get a new version")


def _upload(client: "BaseClient", bucket: str, spec: ObjectSpec, public_read: bool) -> None:
    log.info("uploading s3://%s/%s (%s)", bucket, spec.key, format_size(spec.bytes))
    extra: dict[str, Any] = {"ACL": PUBLIC_READ_ACL} if public_read else {}
    action = "uploading (public-read)" if public_read else "uploading"
    with _s3_errors(action, bucket, spec.key), spec.source.open("rb") as body:
        client.put_object(
            Bucket=bucket, Key=spec.key, Body=body, ContentLength=spec.bytes,
            ContentType=spec.content_type, CacheControl=IMMUTABLE_CACHE_CONTROL,
            ChecksumAlgorithm="SHA256", ChecksumSHA256=_b64(spec.sha256),
            Metadata={SHA256_METADATA: spec.sha256}, **extra,
        )


def _make_public(client: "BaseClient", bucket: str, key: str) -> None:
    with _s3_errors("making public-read", bucket, key):
        client.put_object_acl(Bucket=bucket, Key=key, ACL=PUBLIC_READ_ACL)


# ---------------------------------------------------------------------------------------------
# The latest switch, rollback and listing


def rollback(bucket: str, version: str | None = None, *, client: "BaseClient | None" = None,
             public_read: bool = False) -> SwitchResult:
    """Point `latest` at `version` (default: the newest complete version older than the current one).

    The version's objects are checked against its manifest first; a missing or damaged version is
    refused and `latest` stays as it was.
    """
    client = client or s3_client()
    _check_bucket(client, bucket)
    current = _read_latest(client, bucket)
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
            _verify(client, bucket, key, artifact.bytes, artifact.sha256)
            if public_read:
                _make_public(client, bucket, key)
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
    sizes = _list(client, bucket)
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
    body = manifest.with_artifact_prefix(f"../{version}/")
    body["deployment"] = {
        "version": version,
        "manifest": f"../{version}/{MANIFEST_NAME}",
        "action": action,
        "at": datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "previous": previous,
    }
    data = (json.dumps(body, indent=2) + "\n").encode("utf-8")
    digest = hashlib.sha256(data).hexdigest()
    extra: dict[str, Any] = {"ACL": PUBLIC_READ_ACL} if public_read else {}

    def put(**conditions: str) -> str | None:
        """None once written; the error code when a condition (or its lack of support) stopped it."""
        from botocore.exceptions import ClientError

        try:
            with _s3_errors("switching (public-read)" if public_read else "switching", bucket, LATEST_KEY,
                            passthrough=_is_conditional_failure):
                client.put_object(
                    Bucket=bucket, Key=LATEST_KEY, Body=data, ContentType=content_type(MANIFEST_NAME),
                    CacheControl=LATEST_CACHE_CONTROL, ChecksumAlgorithm="SHA256", ChecksumSHA256=_b64(digest),
                    Metadata={SHA256_METADATA: digest, "model-version": version}, **extra, **conditions,
                )
        except ClientError as exc:
            return _error_code(exc)
        return None

    try:
        refused = put(**({"IfMatch": current.etag} if current.etag else {"IfNoneMatch": "*"}))
        if refused == "NotImplemented":
            log.warning("the store does not support conditional writes; switching latest unconditionally")
            refused = put()
        # A retried PUT whose first attempt landed fails its own condition: that is our write, not a rival's.
        if refused is not None and _matches(client, bucket, LATEST_KEY, len(data), digest, download=True):
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
        _verify(client, bucket, LATEST_KEY, len(data), digest)
    except DeployError as exc:
        raise DeployError(f"{exc}; the switch to {version} was written but could not be read back: "
                          "check with `python -m ml_model versions`") from None
    # The command's result, which the caller reports (the CLI prints it): debug here, not said twice.
    log.debug("s3://%s/%s now serves %s (was %s)", bucket, LATEST_KEY, version, previous or "nothing")


@dataclass(frozen=True)
class _Latest:
    """`latest/model.json` as read at the start of a command."""

    manifest: Manifest | None  # None when missing or not a manifest
    etag: str | None  # None when missing

    @property
    def version(self) -> str | None:
        return self.manifest.version if self.manifest else None


def _read_latest(client: "BaseClient", bucket: str) -> _Latest:
    found = _get_with_etag(client, bucket, LATEST_KEY)
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
# S3 primitives, each turning the store's failures into one-line DeployErrors


def _check_bucket(client: "BaseClient", bucket: str) -> None:
    with _s3_errors("opening", bucket):
        client.head_bucket(Bucket=bucket)


def _list(client: "BaseClient", bucket: str) -> dict[str, int]:
    """Every object in the bucket: key → size."""
    sizes: dict[str, int] = {}
    with _s3_errors("listing", bucket):
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for item in page.get("Contents", ()):
                sizes[item["Key"]] = int(item["Size"])
    return sizes


def _head(client: "BaseClient", bucket: str, key: str) -> dict[str, Any] | None:
    from botocore.exceptions import ClientError

    try:
        with _s3_errors("reading", bucket, key, passthrough=_is_not_found):
            return client.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    except ClientError:
        return None


def _get_with_etag(client: "BaseClient", bucket: str, key: str) -> tuple[bytes, str] | None:
    """A small object's bytes and ETag, or None when it does not exist."""
    from botocore.exceptions import ClientError

    try:
        with _s3_errors("reading", bucket, key, passthrough=_is_not_found):
            response = client.get_object(Bucket=bucket, Key=key)
            return response["Body"].read(), response["ETag"]
    except ClientError:
        return None


def _read_manifest(client: "BaseClient", bucket: str, key: str) -> Manifest | None:
    """The manifest at `key`, None when it does not exist, a DeployError when it is not one."""
    found = _get_with_etag(client, bucket, key)
    if found is None:
        return None
    try:
        return parse_manifest(found[0])
    except ManifestError as exc:
        raise DeployError(f"s3://{bucket}/{key} is not a valid manifest: {exc}") from None


def _matches(client: "BaseClient", bucket: str, key: str, size: int, sha256: str, *, download: bool,
             head: dict[str, Any] | None = None) -> bool:
    """Whether the object exists with this size and SHA-256.

    The store's own SHA-256 checksum decides where it keeps one. Elsewhere the object is downloaded
    and hashed when `download` is set; without it only our `sha256` metadata is trusted, which is
    enough to skip an upload but never to verify one.
    """
    head = head if head is not None else _head(client, bucket, key)
    if head is None or int(head.get("ContentLength", -1)) != size:
        return False
    stored = head.get("ChecksumSHA256")
    if stored and "-" not in stored:  # a "-N" suffix is a multipart composite, not the object's hash
        return stored == _b64(sha256)
    if not download:
        return head.get("Metadata", {}).get(SHA256_METADATA) == sha256
    return _download_sha256(client, bucket, key) == sha256


def _verify(client: "BaseClient", bucket: str, key: str, size: int, sha256: str) -> None:
    head = _head(client, bucket, key)
    if head is None:
        raise DeployError(f"s3://{bucket}/{key} is missing")
    if not _matches(client, bucket, key, size, sha256, download=True, head=head):
        raise DeployError(f"s3://{bucket}/{key} does not match its manifest entry (size or sha256)")


def _download_sha256(client: "BaseClient", bucket: str, key: str) -> str:
    digest = hashlib.sha256()
    with _s3_errors("downloading", bucket, key):
        body = client.get_object(Bucket=bucket, Key=key)["Body"]
        for chunk in iter(lambda: body.read(_READ_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _error_code(exc: Exception) -> str | None:
    from botocore.exceptions import ClientError

    return str(exc.response.get("Error", {}).get("Code")) if isinstance(exc, ClientError) else None


def _is_not_found(exc: Exception) -> bool:
    return _error_code(exc) in ("404", "NoSuchKey", "NotFound")


def _is_missing_bucket(exc: Exception, bucket: str, where: str) -> bool:
    """NoSuchBucket, or a bare 404 from HeadBucket (which has no body to name its code)."""
    code = _error_code(exc)
    return code == "NoSuchBucket" or (code in ("404", "NotFound") and where == f"s3://{bucket}")


def _is_conditional_failure(exc: Exception) -> bool:
    """412: latest changed since we read it; 409: a concurrent conditional write; 501: no support."""
    return _error_code(exc) in ("PreconditionFailed", "ConditionalRequestConflict", "NotImplemented")


_ACCESS_DENIED = {"403", "AccessDenied", "Forbidden", "AllAccessDisabled", "AccountProblem"}
_BAD_CREDENTIALS = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken",
                    "TokenRefreshRequired", "InvalidClientTokenId"}


@contextmanager
def _s3_errors(action: str, bucket: str, key: str | None = None, *,
               passthrough: Callable[[Exception], bool] | None = None) -> Iterator[None]:
    """Turn botocore's exceptions into one-line DeployErrors; `passthrough(exc)` lets chosen ones through."""
    from botocore.exceptions import (
        BotoCoreError, ClientError, ConnectionClosedError, EndpointConnectionError, NoCredentialsError,
        PartialCredentialsError, ReadTimeoutError,
    )

    where = f"s3://{bucket}/{key}" if key else f"s3://{bucket}"
    try:
        yield
    except ClientError as exc:
        if passthrough is not None and passthrough(exc):
            raise
        error = BucketNotFound if _is_missing_bucket(exc, bucket, where) else DeployError
        raise error(_one_line(_client_error(exc, action, bucket, where))) from None
    except (NoCredentialsError, PartialCredentialsError):
        raise DeployError("no usable AWS credentials: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and "
                          "AWS_SECRET_ACCESS_KEY, or run `aws configure`") from None
    except EndpointConnectionError as exc:
        raise DeployError(_one_line(f"cannot reach the S3 endpoint {exc.kwargs.get('endpoint_url', '')} "
                                    f"while {action} {where}")) from None
    except (ConnectionClosedError, ReadTimeoutError) as exc:
        raise DeployError(_one_line(f"the S3 endpoint stopped answering while {action} {where} "
                                    f"({type(exc).__name__})")) from None
    except BotoCoreError as exc:
        raise DeployError(_one_line(f"{action} {where} failed: {exc}")) from None
    except OSError as exc:  # a local file vanished or became unreadable mid-upload
        raise DeployError(_one_line(f"{action} {where} failed: {exc}")) from None


def _client_error(exc: Any, action: str, bucket: str, where: str) -> str:
    error = exc.response.get("Error", {})
    code = str(error.get("Code", ""))
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    message = error.get("Message") or ""
    if _is_missing_bucket(exc, bucket, where):
        return f"bucket {bucket} does not exist (or is in another account)"
    if code in _ACCESS_DENIED:
        if "public-read" in action:
            return (f"access denied while {action} {where}: public-read needs s3:PutObjectAcl, and the bucket's "
                    "Block Public Access settings must allow public ACLs (or keep objects private: s3:// URLs)")
        return (f"access denied while {action} {where}: the credentials need s3:ListBucket, s3:GetObject "
                "and s3:PutObject on this bucket")
    if code in _BAD_CREDENTIALS:
        return f"the S3 store rejected the credentials while {action} {where} ({code})"
    if code == "AccessControlListNotSupported":
        return (f"bucket {bucket} has ACLs disabled, so --public-read cannot work; grant read access "
                "with a bucket policy, or (recommended) keep objects private and use s3:// model URLs")
    if code in ("PermanentRedirect", "AuthorizationHeaderMalformed", "IllegalLocationConstraintException"):
        return f"bucket {bucket} is in another region than the client's: set AWS_REGION to the bucket's region ({code})"
    if isinstance(status, int) and status >= 500:
        return f"the S3 store failed while {action} {where}: {code or 'error'} (HTTP {status})"
    return f"{action} {where} failed: {code or status}{': ' + message if message else ''}"


# ---------------------------------------------------------------------------------------------
# Small helpers


def public_url(client: "BaseClient", bucket: str, key: str = LATEST_KEY) -> str:
    """The plain HTTPS URL of an object (what the seed put in MODEL_URL); readable only if public."""
    endpoint = urlsplit(client.meta.endpoint_url)
    if endpoint.hostname and endpoint.hostname.endswith("amazonaws.com"):
        return f"https://{bucket}.{endpoint.hostname}/{key}"
    return f"{client.meta.endpoint_url.rstrip('/')}/{bucket}/{key}"


def _b64(hex_digest: str) -> str:
    return base64.b64encode(bytes.fromhex(hex_digest)).decode("ascii")


def _one_line(text: str) -> str:
    return " ".join(text.split())


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


__all__ = [
    "BUCKET_VARIABLE", "LATEST_KEY", "DeployResult", "ObjectSpec", "SwitchResult", "VersionInfo", "bucket_name",
    "check_version", "deploy", "env_files", "format_size", "list_versions", "load_env", "plan_deploy", "public_url", "rollback",
    "s3_client",
]
