"""S3 primitives for the deploy step: the client, reads, checksummed writes, and one-line errors.

Every failure of the store (missing bucket, denied access, bad credentials, an endpoint that does
not answer) becomes a one-line DeployError here, so the version protocol in `deploy.py` and the
CLI never see botocore's exceptions. Nothing touches the network or reads credentials until a
function is called.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .errors import BucketNotFound, DeployError

if TYPE_CHECKING:
    from botocore.client import BaseClient

CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 60.0
SHA256_METADATA = "sha256"  # x-amz-meta-sha256: the hex digest, for stores without S3 checksums
PUBLIC_READ_ACL = "public-read"
_READ_CHUNK = 1 << 20
# Session arguments for the AWS variables a `.env` file may set (the real environment botocore reads itself).
_SESSION_VARIABLES = {
    "AWS_ACCESS_KEY_ID": "aws_access_key_id",
    "AWS_SECRET_ACCESS_KEY": "aws_secret_access_key",
    "AWS_SESSION_TOKEN": "aws_session_token",
    "AWS_PROFILE": "profile_name",
    "AWS_DEFAULT_PROFILE": "profile_name",
    "AWS_REGION": "region_name",
    "AWS_DEFAULT_REGION": "region_name",
}
_ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")


def s3_client(
    endpoint_url: str | None = None,
    *,
    settings: Mapping[str, str] | None = None,
    max_attempts: int | None = None,
    connect_timeout: float = CONNECT_TIMEOUT,
    read_timeout: float = READ_TIMEOUT,
) -> BaseClient:
    """An S3 client from the standard credential chain, profile and region.

    `AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL` are honoured by botocore itself; `endpoint_url` overrides
    them. Retries follow `AWS_MAX_ATTEMPTS` / `AWS_RETRY_MODE` unless `max_attempts` is given.
    `settings` are AWS variables from elsewhere than the environment (a `.env` file): credentials,
    profile, region, endpoint and retries, passed to boto3 rather than written into `os.environ`.
    """
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError

    settings = settings or {}
    session = {argument: settings[name] for name, argument in _SESSION_VARIABLES.items() if settings.get(name)}
    endpoint_url = endpoint_url or next((settings[n] for n in _ENDPOINT_VARIABLES if settings.get(n)), None)
    options: dict[str, Any] = {"connect_timeout": connect_timeout, "read_timeout": read_timeout}
    try:
        if max_attempts is not None:
            options["retries"] = {"total_max_attempts": max_attempts, "mode": "standard"}
        elif settings.get("AWS_MAX_ATTEMPTS") or settings.get("AWS_RETRY_MODE"):
            retries: dict[str, Any] = {"mode": settings.get("AWS_RETRY_MODE") or "standard"}
            if settings.get("AWS_MAX_ATTEMPTS"):
                retries["total_max_attempts"] = int(settings["AWS_MAX_ATTEMPTS"])
            options["retries"] = retries
        return boto3.session.Session(**session).client(
            "s3", endpoint_url=endpoint_url or None, config=Config(**options)
        )
    except (BotoCoreError, ValueError) as exc:  # ProfileNotFound, a malformed endpoint URL, region or number
        raise DeployError(_one_line(f"cannot set up the S3 client: {exc}")) from None


def put_object(
    client: BaseClient,
    bucket: str,
    key: str,
    body: bytes | Path,
    *,
    size: int,
    sha256: str,
    content_type: str,
    cache_control: str,
    public_read: bool,
    action: str,
    metadata: Mapping[str, str] | None = None,
    passthrough: Callable[[Exception], bool] | None = None,
    **conditions: str,
) -> None:
    """One PUT of `body` (bytes, or a file's) that the store checks against `sha256`; the hash is also
    kept as metadata, for stores without checksums."""
    extra: dict[str, Any] = {"ACL": PUBLIC_READ_ACL} if public_read else {}
    with (
        s3_errors(f"{action} (public-read)" if public_read else action, bucket, key, passthrough=passthrough),
        body.open("rb") if isinstance(body, Path) else nullcontext(body) as data,
    ):
        client.put_object(
            Bucket=bucket,
            Key=key,
            Body=data,
            ContentLength=size,
            ContentType=content_type,
            CacheControl=cache_control,
            ChecksumAlgorithm="SHA256",
            ChecksumSHA256=b64(sha256),
            Metadata={SHA256_METADATA: sha256, **(metadata or {})},
            **extra,
            **conditions,
        )


def check_bucket(client: BaseClient, bucket: str) -> None:
    with s3_errors("opening", bucket):
        client.head_bucket(Bucket=bucket)


def list_sizes(client: BaseClient, bucket: str) -> dict[str, int]:
    """Every object in the bucket: key → size."""
    sizes: dict[str, int] = {}
    with s3_errors("listing", bucket):
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for item in page.get("Contents", ()):
                sizes[item["Key"]] = int(item["Size"])
    return sizes


def head_object(client: BaseClient, bucket: str, key: str) -> dict[str, Any] | None:
    from botocore.exceptions import ClientError

    try:
        with s3_errors("reading", bucket, key, passthrough=is_not_found):
            return client.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    except ClientError:
        return None


def get_with_etag(client: BaseClient, bucket: str, key: str) -> tuple[bytes, str] | None:
    """A small object's bytes and ETag, or None when it does not exist."""
    from botocore.exceptions import ClientError

    try:
        with s3_errors("reading", bucket, key, passthrough=is_not_found):
            response = client.get_object(Bucket=bucket, Key=key)
            return response["Body"].read(), response["ETag"]
    except ClientError:
        return None


def matches(
    client: BaseClient,
    bucket: str,
    key: str,
    size: int,
    sha256: str,
    *,
    download: bool,
    head: dict[str, Any] | None = None,
) -> bool:
    """Whether the object exists with this size and SHA-256.

    The store's own SHA-256 checksum decides where it keeps one. Elsewhere the object is downloaded
    and hashed when `download` is set; without it only our `sha256` metadata is trusted, which is
    enough to skip an upload but never to verify one.
    """
    head = head if head is not None else head_object(client, bucket, key)
    if head is None or int(head.get("ContentLength", -1)) != size:
        return False
    stored = head.get("ChecksumSHA256")
    if stored and "-" not in stored:  # a "-N" suffix is a multipart composite, not the object's hash
        return stored == b64(sha256)
    if not download:
        return head.get("Metadata", {}).get(SHA256_METADATA) == sha256
    return download_sha256(client, bucket, key) == sha256


def verify(client: BaseClient, bucket: str, key: str, size: int, sha256: str) -> None:
    head = head_object(client, bucket, key)
    if head is None:
        raise DeployError(f"s3://{bucket}/{key} is missing")
    if not matches(client, bucket, key, size, sha256, download=True, head=head):
        raise DeployError(f"s3://{bucket}/{key} does not match its manifest entry (size or sha256)")


def download_sha256(client: BaseClient, bucket: str, key: str) -> str:
    digest = hashlib.sha256()
    with s3_errors("downloading", bucket, key):
        body = client.get_object(Bucket=bucket, Key=key)["Body"]
        for chunk in iter(lambda: body.read(_READ_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def make_public(client: BaseClient, bucket: str, key: str) -> None:
    with s3_errors("making public-read", bucket, key):
        client.put_object_acl(Bucket=bucket, Key=key, ACL=PUBLIC_READ_ACL)


def error_code(exc: Exception) -> str | None:
    from botocore.exceptions import ClientError

    return str(exc.response.get("Error", {}).get("Code")) if isinstance(exc, ClientError) else None


def is_not_found(exc: Exception) -> bool:
    return error_code(exc) in ("404", "NoSuchKey", "NotFound")


def _is_missing_bucket(exc: Exception, bucket: str, where: str) -> bool:
    """NoSuchBucket, or a bare 404 from HeadBucket (which has no body to name its code)."""
    code = error_code(exc)
    return code == "NoSuchBucket" or (code in ("404", "NotFound") and where == f"s3://{bucket}")


def is_conditional_failure(exc: Exception) -> bool:
    """412: latest changed since we read it; 409: a concurrent conditional write; 501: no support."""
    return error_code(exc) in ("PreconditionFailed", "ConditionalRequestConflict", "NotImplemented")


_ACCESS_DENIED = {"403", "AccessDenied", "Forbidden", "AllAccessDisabled", "AccountProblem"}
_BAD_CREDENTIALS = {
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "InvalidToken",
    "TokenRefreshRequired",
    "InvalidClientTokenId",
}


@contextmanager
def s3_errors(
    action: str, bucket: str, key: str | None = None, *, passthrough: Callable[[Exception], bool] | None = None
) -> Iterator[None]:
    """Turn botocore's exceptions into one-line DeployErrors; `passthrough(exc)` lets chosen ones through."""
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        ConnectionClosedError,
        EndpointConnectionError,
        NoCredentialsError,
        PartialCredentialsError,
        ReadTimeoutError,
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
        raise DeployError(
            "no usable AWS credentials: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, or run `aws configure`"
        ) from None
    except EndpointConnectionError as exc:
        raise DeployError(
            _one_line(f"cannot reach the S3 endpoint {exc.kwargs.get('endpoint_url', '')} while {action} {where}")
        ) from None
    except (ConnectionClosedError, ReadTimeoutError) as exc:
        raise DeployError(
            _one_line(f"the S3 endpoint stopped answering while {action} {where} ({type(exc).__name__})")
        ) from None
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
            return (
                f"access denied while {action} {where}: public-read needs s3:PutObjectAcl, and the bucket's "
                "Block Public Access settings must allow public ACLs (or keep objects private: s3:// URLs)"
            )
        return (
            f"access denied while {action} {where}: the credentials need s3:ListBucket, s3:GetObject "
            "and s3:PutObject on this bucket"
        )
    if code in _BAD_CREDENTIALS:
        return f"the S3 store rejected the credentials while {action} {where} ({code})"
    if code == "AccessControlListNotSupported":
        return (
            f"bucket {bucket} has ACLs disabled, so --public-read cannot work; grant read access "
            "with a bucket policy, or (recommended) keep objects private and use s3:// model URLs"
        )
    if code in ("PermanentRedirect", "AuthorizationHeaderMalformed", "IllegalLocationConstraintException"):
        return f"bucket {bucket} is in another region than the client's: set AWS_REGION to the bucket's region ({code})"
    if isinstance(status, int) and status >= 500:
        return f"the S3 store failed while {action} {where}: {code or 'error'} (HTTP {status})"
    return f"{action} {where} failed: {code or status}{': ' + message if message else ''}"


def public_url(client: BaseClient, bucket: str, key: str) -> str:
    """The plain HTTPS URL of an object (what the seed put in MODEL_URL); readable only if public."""
    endpoint = urlsplit(client.meta.endpoint_url)
    if endpoint.hostname and endpoint.hostname.endswith("amazonaws.com"):
        return f"https://{bucket}.{endpoint.hostname}/{key}"
    return f"{client.meta.endpoint_url.rstrip('/')}/{bucket}/{key}"


def b64(hex_digest: str) -> str:
    return base64.b64encode(bytes.fromhex(hex_digest)).decode("ascii")


def _one_line(text: str) -> str:
    return " ".join(text.split())
