"""Where a model is read from: every `MODEL_URL` form of docs/deploying.md ("Configuration"), one class each
behind one small protocol, `Source` (as `ml_model.data` does for MNIST's sources):

- `HttpSource`: `http://` / `https://` (the local model server, a public S3 bucket), urllib;
- `S3Source`: `s3://BUCKET/KEY` (a private bucket, IAM read), boto3, whose client the caller makes
  when such a URL is used, honouring `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_S3`;
- `FileSource`: a local path or `file://` URL, to an export folder or to its `model.json`.

`locate` picks the class for a URL; `chunks` and `read` read any of them, turning every failure
into a one-line `FetchError` that names the file (and the server, never the bucket or path).

Artifact paths in a manifest are relative to the manifest and may climb out of its folder
(`latest/model.json` → `../<version>/model.tflite`), so `join` normalises `..` for every scheme;
a path that would climb above the bucket (or URL) root is refused.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import time
import urllib.error
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

from api.runtime.manifest import MANIFEST_NAME

CHUNK = 1 << 20
USER_AGENT = "number-prediction-api"


class FetchError(Exception):
    """A model file could not be read from its source; the message names the file and the cause."""


class Source(Protocol):
    """One file of a model, wherever it is: `location` is its URL, `bucket/key` or absolute path."""

    location: str

    @property
    def host(self) -> str:
        """The server the file is read from, `host[:port]` only ("" for a local file): what a caller
        needs to see which server failed, never the path or credentials."""

    def join(self, relative: str) -> Source:
        """The file at `relative` (as written in a manifest) next to this one, on the same source."""

    def open(self, timeout: float) -> AbstractContextManager[IO[bytes]]:
        """The file's bytes as a stream; `timeout` bounds the connect and each read."""


@dataclass(frozen=True)
class HttpSource:
    """`http(s)://` (the local model server, a public bucket): urllib, joined like URLs."""

    location: str

    @property
    def host(self) -> str:
        return _host(self.location)

    def join(self, relative: str) -> HttpSource:
        url = urllib.parse.urlsplit(self.location)
        path = "/" + _climb(posixpath.dirname(url.path).lstrip("/"), relative)
        return HttpSource(urllib.parse.urlunsplit((url.scheme, url.netloc, path, "", "")))

    def open(self, timeout: float) -> AbstractContextManager[IO[bytes]]:
        # Imported here, not with the module: it pulls in http.client and ssl (~30 ms of a cold
        # start that reads the model from s3:// or a path).
        from urllib.request import Request, urlopen

        request = Request(self.location, headers={"User-Agent": USER_AGENT})
        return urlopen(request, timeout=timeout)  # the scheme was checked in locate()


@dataclass(frozen=True)
class S3Source:
    """`s3://BUCKET/KEY` (a private bucket, IAM read): `location` is `bucket/key`; `client` gives the
    boto3 client to read with (made by the caller, once, when the first s3:// file is read)."""

    location: str
    client: Callable[[], Any] = field(default=lambda: None, compare=False, repr=False)

    @property
    def host(self) -> str:
        return ""

    def join(self, relative: str) -> S3Source:
        bucket, key = self.location.split("/", 1)
        return S3Source(f"{bucket}/{_climb(posixpath.dirname(key), relative)}", self.client)

    def open(self, timeout: float) -> AbstractContextManager[IO[bytes]]:
        bucket, key = self.location.split("/", 1)
        return contextlib.closing(self.client().get_object(Bucket=bucket, Key=key)["Body"])


@dataclass(frozen=True)
class FileSource:
    """A local file (a path or `file://` URL): `location` is its absolute path."""

    location: str

    @property
    def host(self) -> str:
        return ""

    def join(self, relative: str) -> FileSource:
        return FileSource("/" + _climb(os.path.dirname(self.location).lstrip("/"), relative))

    def open(self, timeout: float) -> AbstractContextManager[IO[bytes]]:
        return open(self.location, "rb")


def name(source: Source) -> str:
    """The file's own name, for messages (never the whole URL: it may name a private bucket)."""
    return posixpath.basename(source.location.split("?", 1)[0]) or source.location


def chunks(source: Source, timeout: float, deadline: float | None = None) -> Iterator[bytes]:
    """The file's bytes in chunks; raises FetchError (also midway) with a short reason.

    `timeout` bounds each connect and read; `deadline` (a `time.monotonic()` value) the whole
    transfer, so a source that trickles bytes cannot hold the request past it.
    """
    file, host = name(source), source.host
    try:
        with source.open(timeout) as stream:
            read = getattr(stream, "read1", None) or stream.read  # read1: what has arrived, not a full MiB
            while chunk := read(CHUNK):
                if deadline is not None and time.monotonic() > deadline:
                    raise FetchError(f"{file}: too slow, not received within the load timeout")
                yield chunk
            missing = getattr(stream, "length", None)  # HTTP: what Content-Length promised and never came
            if missing:
                raise FetchError(f"{file}: the connection closed {missing} bytes early")
    except FetchError:
        raise
    except urllib.error.HTTPError as exc:
        raise FetchError(f"{file}: HTTP {exc.code} {exc.reason} from {host}") from exc
    except urllib.error.URLError as exc:
        raise FetchError(f"{file}: cannot connect to {host} ({exc.reason})") from exc
    except FileNotFoundError as exc:
        raise FetchError(f"{file}: no such file") from exc
    except Exception as exc:  # socket, OS and botocore errors all mean "cannot read"
        where = f" (from {host})" if host else ""
        raise FetchError(f"{file}: {_describe(exc)}{where}") from exc


def read(source: Source, timeout: float, limit: int, deadline: float | None = None) -> bytes:
    """The whole (small) file, refused if larger than `limit` bytes."""
    data = bytearray()
    for chunk in chunks(source, timeout, deadline):
        data += chunk
        if len(data) > limit:
            raise FetchError(f"{name(source)}: larger than {limit} bytes")
    return bytes(data)


def locate(model_url: str, s3_client: Callable[[], Any] = lambda: None) -> Source:
    """The manifest a `MODEL_URL` points at; raises FetchError for a URL of no supported form.

    `s3_client` gives the boto3 client for an `s3://` URL (and every file joined to it).
    """
    url = model_url.strip()
    parsed = urllib.parse.urlparse(url)
    scheme = parsed.scheme.lower()
    if scheme in ("http", "https"):
        if not parsed.netloc:
            raise FetchError("MODEL_URL has no host")
        if not parsed.path.endswith("/") and parsed.path:
            return HttpSource(url)
        return HttpSource(urllib.parse.urljoin(url if parsed.path else url + "/", MANIFEST_NAME))
    if scheme == "s3":
        key = parsed.path.lstrip("/")
        if not parsed.netloc or not key:
            raise FetchError("an s3:// MODEL_URL must name a bucket and a key: s3://BUCKET/latest/model.json")
        if key.endswith("/"):
            key += MANIFEST_NAME
        return S3Source(f"{parsed.netloc}/{key}", s3_client)
    if scheme == "file":
        from urllib.request import url2pathname

        path = Path(url2pathname(parsed.path))
    elif scheme and len(scheme) > 1:  # a one-letter scheme is a Windows drive
        raise FetchError(f"MODEL_URL scheme '{scheme}' is not supported; use http(s)://, s3:// or a path")
    else:
        path = Path(url).expanduser()
    path = path.absolute()
    if path.is_dir():
        path = path / MANIFEST_NAME
    return FileSource(os.path.normpath(path))


def _climb(folder: str, relative: str) -> str:
    """`folder/relative` with `.` and `..` resolved, refused if it leaves the root."""
    if relative.startswith("/") or "\\" in relative:
        raise FetchError(f"artifact path {relative!r} must be relative")
    joined = posixpath.normpath(posixpath.join(folder, relative))
    if joined == ".." or joined.startswith("../") or joined == ".":
        raise FetchError(f"artifact path {relative!r} leaves the model's root")
    return joined


def _host(url: str) -> str:
    """`host[:port]` of a URL, IPv6 in brackets; no path, no user:password@."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # an IPv6 address
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:  # not a number: the host alone still says where
        port = None
    return f"{host}:{port}" if port else host


def _describe(exc: BaseException) -> str:
    """A one-line reason from an OS, socket or botocore error, without its traceback."""
    code = getattr(exc, "response", {}).get("Error", {}).get("Code") if hasattr(exc, "response") else None
    if code:
        return f"S3 error {code}"
    details = getattr(exc, "kwargs", None)  # botocore keeps an error's fields here
    endpoint = details.get("endpoint_url") if isinstance(details, dict) else None
    if endpoint:  # botocore's message holds the whole URL (bucket and key); the host is what helps
        return f"cannot connect to {_host(endpoint)} ({type(exc).__name__})"
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:200]
