"""The API through the door users use: `serverless offline` over loopback HTTP.

`serverless.yml` sends every method and path to the handler (API Gateway's `$default` route), so
its `ROUTES` table alone decides what is found, what is allowed and how errors look. Here every
route of that table and every status of the error table of docs/http-api.md is asked for over HTTP and must
come back from the handler in the documented shape with CORS headers; raw PNG and JPEG digits are
sent the ways curl sends them; and that page's own curl commands run as written.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from api.handler import ROUTES
from api.runtime.settings import MAX_BODY_BYTES
from tests.support.digit_images import canvas
from tests.support.loopback import FolderServer, free_port
from tests.support.serverless_support import ORIGIN, REPO, Offline, cli_env

pytestmark = [pytest.mark.serverless, pytest.mark.network]

README = (REPO / "docs" / "http-api.md").read_text(encoding="utf-8")  # the API's page of the documentation
# A method no route of the API takes, for the 405s (never OPTIONS: that is a CORS preflight).
OTHER_METHODS = ("PUT", "DELETE", "PATCH", "POST", "GET")
# Userinfo in MODEL_URL must never reach a caller; the unreachable model server's URL carries some.
SECRET = "s3cr3t-password"


def readme_errors() -> dict[int, str]:
    """The README's error table, status → code."""
    rows = dict(re.findall(r"^\| (\d{3}) \| `(\w+)` \|", README, re.MULTILINE))
    assert rows, "the README has no error table"
    return {int(status): code for status, code in rows.items()}


def concrete(path: str, version: str = "any") -> str:
    """A route path with `{name}` filled in with the model's name and `{version}` with `version`."""
    return path.replace("{name}", "number-prediction").replace("{version}", version)


def route_methods() -> list[tuple[str, str]]:
    return [(path, method) for path, route in ROUTES.items() for method in route.methods]


@pytest.fixture(scope="module")
def model_version(offline_api: Offline) -> str:
    """The version of the model the API serves (what a `{version}` in a path must be)."""
    status, _, body = offline_api.request("GET", "/model")
    assert status == 200, body
    return body["model"]["version"]


@pytest.fixture(scope="module")
def test_body() -> bytes:
    return json.loads((REPO / "test.json").read_text())["body"].encode()


@pytest.fixture(scope="module")
def unreachable_api(
    serverless: Path, model_server: FolderServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Offline, str]]:
    """`serverless offline` whose MODEL_URL names a closed port (with a password in it), and that host."""
    host = f"127.0.0.1:{free_port()}"
    env = cli_env(
        model_server,
        tmp_path_factory.mktemp("unreachable"),
        MODEL_URL=f"http://reader:{SECRET}@{host}/latest/model.json",
    )
    offline = Offline(serverless, env, free_port(), free_port())
    try:
        offline.wait_ready(180)
        yield offline, host
    finally:
        offline.stop()


def error_of(body: Any) -> dict[str, str]:
    """The API's error object, checked for the documented shape."""
    assert isinstance(body, dict) and set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"code", "message"} and error["message"], error
    return error


@pytest.mark.parametrize(("path", "method"), route_methods(), ids=lambda value: value)
def test_every_route_reaches_the_handler(
    offline_api: Offline, path: str, method: str, test_body: bytes, model_version: str
) -> None:
    body = test_body if method in ("POST", "PUT", "PATCH") else None
    status, headers, raw = offline_api.raw_request(
        method, concrete(path, model_version), body, {"Content-Type": "application/json"}
    )
    # Not the gateway's "route not found" nor a wrong method: the handler took it.
    assert status not in (404, 405), raw[:300]
    assert headers.get("access-control-allow-origin") in (ORIGIN, "*")
    assert b"Serverless-offline" not in raw


@pytest.mark.parametrize("path", [p for p, r in ROUTES.items() if "GET" in r.methods])
def test_head_is_get_without_the_body(offline_api: Offline, path: str, model_version: str) -> None:
    get_status, get_headers, _ = offline_api.raw_request("GET", concrete(path, model_version), None)
    status, headers, raw = offline_api.raw_request("HEAD", concrete(path, model_version), None)
    assert (status, raw) == (get_status, b"")
    assert headers.get("content-type") == get_headers.get("content-type")


@pytest.mark.parametrize("path", list(ROUTES))
def test_other_methods_get_405_with_allow(offline_api: Offline, path: str) -> None:
    allowed = set(ROUTES[path].methods) | {"OPTIONS"} | ({"HEAD"} if "GET" in ROUTES[path].methods else set())
    method = next(m for m in OTHER_METHODS if m not in allowed)
    status, headers, raw = offline_api.raw_request(method, concrete(path), b"{}" if method != "GET" else None)
    assert status == 405, raw[:300]
    assert {m.strip() for m in headers["allow"].split(",")} == allowed
    assert headers.get("access-control-allow-origin") in (ORIGIN, "*")
    error = json.loads(raw)["error"]
    if isinstance(error, dict):  # the /v2 protocol's errors are plain strings
        assert error["code"] == "method_not_allowed" and method in error["message"]


@pytest.mark.parametrize("path", list(ROUTES))
def test_cors_preflight_is_answered(offline_api: Offline, path: str) -> None:
    status, headers, _ = offline_api.raw_request(
        "OPTIONS",
        concrete(path),
        headers={"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"},
    )
    assert 200 <= status < 300
    assert headers["access-control-allow-origin"] in (ORIGIN, "*")
    assert "POST" in headers["access-control-allow-methods"]
    assert "content-type" in headers["access-control-allow-headers"].lower()


# A request that earns each error status of the README's table (503 has its own server, below).
ERROR_REQUESTS: dict[int, tuple[str, str, bytes | None, str]] = {
    400: ("POST", "/predict", b"{not json", "application/json"),
    404: ("GET", "/no-such-route", None, "application/json"),
    405: ("GET", "/predict", None, "application/json"),
    413: ("POST", "/predict", b" " * (MAX_BODY_BYTES + 1), "text/plain"),
    415: ("POST", "/predict", b"<digit>7</digit>", "application/xml"),
}


@pytest.mark.parametrize("status", sorted(readme_errors()))
def test_every_documented_error_status_over_http(status: int, request: pytest.FixtureRequest) -> None:
    code = readme_errors()[status]
    if status == 503:
        api, host = request.getfixturevalue("unreachable_api")
        got, headers, body = api.request("POST", "/predict", request.getfixturevalue("test_body"))
    else:
        assert status in ERROR_REQUESTS, f"the README lists {status} {code}: add a request that earns it here"
        method, path, data, content_type = ERROR_REQUESTS[status]
        got, headers, body = request.getfixturevalue("offline_api").request(method, path, data, content_type)
    assert got == status, body
    assert error_of(body)["code"] == code
    assert headers.get("access-control-allow-origin") in (ORIGIN, "*")
    if status == 405:
        assert "POST" in headers["allow"]
    if status == 503:
        message = body["error"]["message"]
        assert int(headers["retry-after"]) >= 1
        # Which server it tried, and no more: not the path, never the password.
        assert host in message and SECRET not in message and "/latest/" not in message, message


def as_jpeg(png: bytes) -> bytes:
    out = io.BytesIO()
    Image.open(io.BytesIO(png)).convert("RGB").save(out, "JPEG", quality=90)
    return out.getvalue()


@pytest.mark.parametrize("kind", ["png", "jpeg"])
def test_raw_image_bodies_through_offline(offline_api: Offline, real_mnist, kind: str) -> None:
    index = 3 if kind == "png" else 4
    digit, label = real_mnist.test_images[index], int(real_mnist.test_labels[index])
    data = canvas(digit, np.random.default_rng(index))
    if kind == "jpeg":
        data = as_jpeg(data)
    # The way the README shows: serverless offline passes application/octet-stream base64-encoded.
    status, _, body = offline_api.request("POST", "/predict", data, "application/octet-stream")
    assert status == 200 and body["prediction"] == label, body
    # `curl -H "Content-Type: image/png" --data-binary @digit.png`: offline decodes the body as
    # UTF-8 text, so every byte that was not UTF-8 is gone. The answer says what happened and what
    # to send instead, never that the file is not an image.
    status, _, body = offline_api.request("POST", "/predict", data, f"image/{kind}")
    assert status == 415, body
    message = error_of(body)["message"]
    assert f"a {kind.upper()} image" in message and "as text" in message, message
    assert "application/octet-stream" in message and "base64" in message
    assert "is not PNG" not in message


def readme_block(heading_text: str) -> str:
    """The first ```bash block after the README line holding `heading_text`."""
    start = README.index(heading_text)
    match = re.compile(r"```bash\n(.*?)```", re.DOTALL).search(README, start)
    assert match, heading_text
    return match.group(1)


def test_the_readme_walkthrough_as_written(offline_api: Offline, tmp_path: Path, real_mnist) -> None:
    """The README's "As a local HTTP server" commands, run by bash in a folder holding test.json and a
    digit.png, against this test's server instead of port 4000 (the server itself is started by the fixture)."""
    if shutil.which("curl") is None:
        pytest.fail("curl is needed to run the README's commands")
    shutil.copy(REPO / "test.json", tmp_path / "test.json")
    (tmp_path / "digit.png").write_bytes(canvas(real_mnist.test_images[0], np.random.default_rng(0)))
    address = offline_api.url.removeprefix("http://")
    lines = [
        line
        for line in readme_block("As a local HTTP server").splitlines()
        if line.strip() and "serverless offline" not in line
    ]
    outputs = []
    for line in lines:
        command = line.split("  #", 1)[0].replace("localhost:4000", address).strip()
        if command.startswith("xdg-open "):  # opens the page in the user's browser: here, fetch what it opens
            page = subprocess.run(["curl", "-sf", command.split()[1]], capture_output=True, text=True, timeout=60)
            assert page.returncode == 0 and page.stdout.lstrip().lower().startswith("<!doctype html"), command
            continue
        run = subprocess.run(
            ["bash", "-c", command + " -s" if command.startswith("curl") else command],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert run.returncode == 0, (command, run.stderr)
        outputs.append((line, run.stdout))
    answers = [(line, json.loads(out)) for line, out in outputs if line.startswith("curl")]
    assert len(answers) >= 3, lines
    for line, answer in answers:
        promised = re.search(r'# \{"prediction":(\d)', line)
        if promised:
            assert answer["prediction"] == int(promised.group(1)), answer
        if "/model" in line:
            assert answer["model"]["loaded"] is True  # after the predictions above
        if "digit.png" in line:
            assert answer["prediction"] == int(real_mnist.test_labels[0]), answer
