"""MNIST's sources tried in order over real HTTP on loopback: damaged mirrors are passed over, the
user's folder comes first, and a verified cache needs no source at all."""

from __future__ import annotations

import gzip
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from ml_model.data import FolderSource, MirrorSource, Mnist, ensure_files, load_mnist
from tests.support.data_support import NAMES, checksums, leftovers

# How often a mirror's serve_forever looks for shutdown(): closing one waits up to this long.
POLL_INTERVAL = 0.01


class _Mirror:
    """A loopback HTTP server for `<name>.gz`, recording requests; can serve damaged files."""

    def __init__(self, folder: Path, damage: str | None = None) -> None:
        self.requests: list[str] = []
        mirror = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                mirror.requests.append(self.path)
                name = self.path.strip("/").removesuffix(".gz")
                if not self.path.endswith(".gz") or not (folder / name).is_file():
                    self.send_error(404)
                    return
                body = gzip.compress((folder / name).read_bytes())
                if damage == "truncated-gzip":
                    body = body[: len(body) // 2]
                elif damage == "wrong-content":
                    body = gzip.compress(b"not mnist")
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(POLL_INTERVAL,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def mirrors(synthetic_idx_dir: Path) -> Iterator[dict[str, _Mirror]]:
    servers = {
        kind: _Mirror(synthetic_idx_dir, None if kind == "good" else kind)
        for kind in ("truncated-gzip", "wrong-content", "good")
    }
    yield servers
    for server in servers.values():
        server.close()


@pytest.mark.network
def test_sources_are_tried_in_order_until_one_verifies(
    tmp_path: Path, synthetic_idx_dir: Path, mirrors: dict[str, _Mirror]
) -> None:
    empty = tmp_path / "user-folder"
    empty.mkdir()
    sources = [
        FolderSource(empty),
        MirrorSource("http://127.0.0.1:9/", timeout=2),
        MirrorSource(mirrors["truncated-gzip"].url),
        MirrorSource(mirrors["wrong-content"].url),
        MirrorSource(mirrors["good"].url),
    ]
    cache = tmp_path / "cache"
    mnist = load_mnist(cache_dir=cache, sources=sources, checksums=checksums(synthetic_idx_dir))
    assert isinstance(mnist, Mnist) and len(mnist.train_labels) == 600
    expected = [f"/{name}.gz" for name in NAMES]
    for kind in ("truncated-gzip", "wrong-content", "good"):
        assert mirrors[kind].requests == expected, kind
    assert leftovers(cache) == []


@pytest.mark.network
def test_the_users_folder_comes_first(tmp_path: Path, synthetic_idx_dir: Path, mirrors: dict[str, _Mirror]) -> None:
    sources = [FolderSource(synthetic_idx_dir), MirrorSource(mirrors["good"].url)]
    ensure_files(tmp_path / "cache", sources, checksums(synthetic_idx_dir))
    assert mirrors["good"].requests == []


@pytest.mark.network
def test_a_verified_cache_needs_no_source(tmp_path: Path, synthetic_idx_dir: Path, mirrors: dict[str, _Mirror]) -> None:
    sums = checksums(synthetic_idx_dir)
    ensure_files(tmp_path / "cache", [MirrorSource(mirrors["good"].url)], sums)
    ensure_files(tmp_path / "cache", [MirrorSource(mirrors["good"].url)], sums)
    assert len(mirrors["good"].requests) == len(NAMES)
