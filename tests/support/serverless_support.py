"""Helpers for tests through the real Serverless CLI: its environment, and `serverless offline` as a process.

`conftest.py` builds one shared `offline_api` (serverless offline on free loopback ports, the model served
from the trained test export) on these; test files that need other settings start their own `Offline`.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from tests.support.loopback import DUMMY_AWS, FolderServer

REPO = Path(__file__).resolve().parents[2]
SERVERLESS = REPO / "node_modules" / ".bin" / "serverless"
LAMBDA_PYTHON = "3.12"
ORIGIN = "http://localhost:8080"


def cli_env(model_server: FolderServer, tmp_path: Path, **extra: str) -> dict[str, str]:
    """The CLI's environment: this interpreter first on PATH (invoke local and offline run `python3`)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(DUMMY_AWS)
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        VIRTUAL_ENV=sys.prefix,
        MODEL_URL=f"{model_server.url}/latest/model.json",
        MODEL_CACHE_DIR=str(tmp_path / "model-cache"),
        SLS_TELEMETRY_DISABLED="1",
        SLS_NOTIFICATIONS_MODE="off",
    )
    env.update(extra)
    return env


def result_json(output: str) -> dict[str, Any]:
    """The handler's result, which `invoke local` prints last, as indented JSON, after any log lines."""
    start = output.rfind("\n{\n") + 1 if "\n{\n" in output else output.find("{")
    return json.loads(output[start : output.rindex("}") + 1])


def lower_keys(headers: Any) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


class Offline:
    """`serverless offline` in its own process group, its output collected by a thread."""

    def __init__(self, serverless: Path, env: dict[str, str], port: int, lambda_port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.output: list[str] = []
        self.process = subprocess.Popen(
            [str(serverless), "offline", "--httpPort", str(port), "--lambdaPort", str(lambda_port)],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError("serverless offline exited:\n" + "".join(self.output))
            if any("Server ready" in line for line in self.output):
                return
            time.sleep(0.2)
        raise AssertionError("serverless offline did not start in time:\n" + "".join(self.output))

    def raw_request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 60,
    ) -> tuple[int, dict[str, str], bytes]:
        """One HTTP request; the status, lower-cased headers and the body's bytes (errors included)."""
        request = urllib.request.Request(
            f"{self.url}{path}", data=body, method=method, headers={"Origin": ORIGIN, **(headers or {})}
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, lower_keys(response.headers), response.read()
        except urllib.error.HTTPError as error:
            return error.code, lower_keys(error.headers), error.read()

    def request(
        self, method: str, path: str, body: bytes | None = None, content_type: str = "application/json"
    ) -> tuple[int, dict[str, str], Any]:
        """One HTTP request whose answer is JSON: the status, lower-cased headers and the parsed body."""
        status, headers, raw = self.raw_request(method, path, body, {"Content-Type": content_type})
        return status, headers, json.loads(raw or b"null")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        self._reader.join(5)


def lambda_like_python() -> tuple[str, str]:
    """A CPython 3.12 to build for and run the bundle with; else this interpreter's own version."""
    candidates = [shutil.which(f"python{LAMBDA_PYTHON}")]
    candidates += sorted(glob.glob(os.path.expanduser(f"~/.pyenv/versions/{LAMBDA_PYTHON}*/bin/python{LAMBDA_PYTHON}")))
    for candidate in filter(None, candidates):
        probe = subprocess.run(
            [candidate, "-c", "import sys; print(sys.version_info[:2])"], capture_output=True, text=True, timeout=30
        )
        if probe.returncode == 0 and probe.stdout.strip() == "(3, 12)":
            return candidate, LAMBDA_PYTHON
    base = Path(sys.base_prefix) / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    return str(base if base.exists() else sys.executable), f"{sys.version_info.major}.{sys.version_info.minor}"
