"""Real servers on 127.0.0.1 for the tests, and what talking to them needs.

Free ports, a counting static-file server (as `python -m ml_model serve` or a public bucket would
answer), moto's S3 in server mode (real HTTP, so boto3 goes through its whole stack) and the dummy
credentials that keep every AWS client away from a real account. `conftest.py` turns these into the
`moto_endpoint`, `aws_env` and `model_server` fixtures.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import signal
import socket
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

# Credentials moto accepts and AWS would refuse; no instance-metadata lookups for real ones.
DUMMY_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}


def free_port() -> int:
    """A loopback port nothing listens on (bound and released at once): for a server to start on,
    or to stand for one that is down."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class FolderServer:
    """A folder served over HTTP on 127.0.0.1; `hits` counts GETs by path."""

    url: str
    hits: Counter = field(default_factory=Counter)


class _CountingHandler(SimpleHTTPRequestHandler):
    server_state: FolderServer

    def do_GET(self) -> None:
        self.server_state.hits[self.path] += 1
        super().do_GET()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet test output
        pass


@contextlib.contextmanager
def serve_folder(root: Path) -> Iterator[FolderServer]:
    """Serve `root` at http://127.0.0.1:<free port>/ until the block ends."""
    state = FolderServer("")
    handler = type("Handler", (_CountingHandler,), {"server_state": state})
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(root)))
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@contextlib.contextmanager
def moto_s3() -> Iterator[str]:
    """moto's S3 in server mode (real HTTP) on 127.0.0.1; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def ctrl_c_reaches_the_child() -> None:
    """`preexec_fn` for a child the test will interrupt: SIGINT back at its default. A suite started
    in the background by a non-interactive shell inherits SIGINT ignored, and Python then never
    turns Ctrl-C into KeyboardInterrupt, so the child would not see the interrupt under test."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
