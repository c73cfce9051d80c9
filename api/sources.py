"""Where a model is read from: every `MODEL_URL` form of the README ("Configuration"), as one small interface.

- `http://` / `https://` (the local model server, a public S3 bucket): urllib, joined like URLs;
- `s3://BUCKET/KEY` (a private bucket, IAM read): boto3, imported only when such a URL is used,
  honouring `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_S3`;
- a local path or `file://` URL, to an export folder or to its `model.json`.

Artifact paths in a manifest are relative to the manifest and may climb out of its folder
(`latest/model.json` → `../<version>/model.tflite`), so `join` normalises `..` for every scheme;
a path that would climb above the bucket (or URL) root is refused.
"""

from __future__ import annotations

import os
import posixpath
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Iterator

from .manifest import MANIFEST_NAME

HTTP = "http"
S3 = "s3"
FILE = "file"
CHUNK = 1 << 20
USER_AGENT = "number-prediction-api"


class FetchError(Exception):
    """A model file could not be read from its source; the message names the file and the cause."""


@dataclass(frozen=True)
class Source:
    """One file of a model: a scheme and where it is (URL, `bucket/key` or absolute path)."""

    kind: str
    location: str

    @property
    def name(self) -> str:
        """The file's own name, for messages (never the whole URL: it may name a private bucket)."""
        return posixpath.basename(self.location.split("?", 1)[0]) or self.location

    @property
    def host(self) -> str:
        """The server an `http(s)://` file is read from, `host[:port]` only (never the path or any
        user:password@ part): what a caller needs to see which server failed."""
        return _host(self.location) if self.kind == HTTP else ""

    def join(self, relative: str) -> "Source":
        """The file at `relative` (as written in a manifest) next to this one."""
        if self.kind == HTTP:
            url = urllib.parse.urlsplit(self.location)
            path = "/" + _climb(posixpath.dirname(url.path).lstrip("/"), relative)
            return Source(HTTP, urllib.parse.urlunsplit((url.scheme, url.netloc, path, "", "")))
        if self.kind == S3:
            bucket, key = self.location.split("/", 1)
            return Source(S3, f"{bucket}/{_climb(posixpath.dirname(key), relative)}")
        return Source(FILE, "/" + _climb(os.path.dirname(self.location).lstrip("/"), relative))

    def chunks(self, timeout: float, s3_client: Any = None, deadline: float | None = None) -> Iterator[bytes]:
        """The file's bytes in chunks; raises FetchError (also midway) with a short reason.

        `timeout` bounds each connect and read; `deadline` (a `time.monotonic()` value) the whole
        transfer, so a source that trickles bytes cannot hold the request past it.
        """
        try:
            with self._open(timeout, s3_client) as stream:
                read = getattr(stream, "read1", None) or stream.read  # read1: what has arrived, not a full MiB
                while chunk := read(CHUNK):
                    if deadline is not None and time.monotonic() > deadline:
                        raise FetchError(f"{self.name}: too slow, not received within the load timeout")
                    yield chunk
                missing = getattr(stream, "length", None)  # HTTP: what Content-Length promised and never came
                if missing:
                    raise FetchError(f"{self.name}: the connection closed {missing} bytes early")
        except FetchError:
            raise
        except urllib.error.HTTPError as exc:
            raise FetchError(f"{self.name}: HTTP {exc.code} {exc.reason} from {self.host}") from exc
        except urllib.error.URLError as exc:
            raise FetchError(f"{self.name}: cannot connect to {self.host} ({exc.reason})") from exc
        except FileNotFoundError as exc:
            raise FetchError(f"{self.name}: no such file") from exc
        except Exception as exc:  # noqa: BLE001 - socket, OS and botocore errors all mean "cannot read"
            where = f" (from {self.host})" if self.host else ""
            raise FetchError(f"{self.name}: {_describe(exc)}{where}") from exc

    def read(self, timeout: float, limit: int, s3_client: Any = None, deadline: float | None = None) -> bytes:
        """The whole (small) file, refused if larger than `limit` bytes."""
        data = bytearray()
        for chunk in self.chunks(timeout, s3_client, deadline):
            data += chunk
            if len(data) > limit:
                raise FetchError(f"{self.name}: larger than {limit} bytes")
        return bytes(data)

    def _open(self, timeout: float, s3_client: Any) -> IO[bytes]:
        if self.kind == HTTP:
            request = urllib.request.Request(self.location, headers={"User-Agent": USER_AGENT})
            return urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 - scheme checked in locate()
        if self.kind == S3:
            bucket, key = self.location.split("/", 1)
            body = s3_client.get_object(Bucket=bucket, Key=key)["Body"]
            return _Closing(body)
        return open(self.location, "rb")


class _Closing:
    """A botocore streaming body as a context manager."""

    def __init__(self, body: Any) -> None:
        self._body = body

    def __enter__(self) -> Any:
        return self._body

    def __exit__(self, *exc: object) -> None:
        self._body.close()


def locate(model_url: str) -> Source:
    """The manifest a `MODEL_URL` points at; raises FetchError for a URL of no supported form."""
    url = model_url.strip()
    parsed = urllib.parse.urlparse(url)
    scheme = parsed.scheme.lower()
    if scheme in ("http", "https"):
        if not parsed.netloc:
            raise FetchError("MODEL_URL has no host")
        if not parsed.path.endswith("/") and parsed.path:
            return Source(HTTP, url)
        return Source(HTTP, urllib.parse.urljoin(url if parsed.path else url + "/", MANIFEST_NAME))
    if scheme == "s3":
        key = parsed.path.lstrip("/")
        if not parsed.netloc or not key:
            raise FetchError("an s3:// MODEL_URL must name a bucket and a key: s3://BUCKET/latest/model.json")
        if key.endswith("/"):
            key += MANIFEST_NAME
        return Source(S3, f"{parsed.netloc}/{key}")
    if scheme == "file":
        path = Path(urllib.request.url2pathname(parsed.path))
    elif scheme and len(scheme) > 1:  # a one-letter scheme is a Windows drive
        raise FetchError(f"MODEL_URL scheme '{scheme}' is not supported; use http(s)://, s3:// or a path")
    else:
        path = Path(url).expanduser()
    path = path.absolute()
    if path.is_dir():
        path = path / MANIFEST_NAME
    return Source(FILE, os.path.normpath(path))


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
