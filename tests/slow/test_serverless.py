"""The real Serverless CLI (osls, from `npm ci`): invoke local, offline over HTTP, and the Lambda bundle.

The model comes from a loopback HTTP server serving the trained test export, as `python -m ml_model
serve` serves `ml_model/exports/` in development. The bundle test builds the zip `serverless deploy`
would upload, unpacks it, and answers `test.json` with a Python that sees only that folder.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from api.runtime.manifest import AUTO, parse_manifest
from tests.support.api_support import NATIVE_NOISE
from tests.support.digit_images import canvas
from tests.support.loopback import FolderServer, free_port
from tests.support.serverless_support import ORIGIN, REPO, Offline, cli_env, lambda_like_python, result_json

pytestmark = [pytest.mark.serverless, pytest.mark.network]

# Lambda allows 250 MB unzipped; the bundle is held to 150 MB (it is ~105 MB with its bytecode).
BUNDLE_UNZIPPED_LIMIT = 150 * 1024 * 1024


@pytest.fixture(scope="module")
def test_event() -> dict[str, Any]:
    return json.loads((REPO / "test.json").read_text())


@pytest.fixture(scope="module")
def test_label(test_event: dict[str, Any], real_mnist) -> int:
    """The label of the MNIST test digit in test.json (found by comparing pixels)."""
    image = np.array(json.loads(test_event["body"])["image"], dtype=np.uint8)
    matches = np.flatnonzero((real_mnist.test_images == image).all(axis=(1, 2)))
    assert len(matches) >= 1, "test.json does not hold an MNIST test digit"
    return int(real_mnist.test_labels[matches[0]])


def test_test_json_is_reproducible(tmp_path: Path, test_event: dict[str, Any]) -> None:
    out = tmp_path / "test.json"
    subprocess.run(
        [sys.executable, str(REPO / "scripts" / "make_test_event.py"), "--out", str(out)],
        cwd=REPO,
        check=True,
        capture_output=True,
        timeout=300,
    )
    assert json.loads(out.read_text()) == test_event


def test_the_readme_names_the_digit_in_test_json(test_label: int) -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert f"MNIST test image 0, a {test_label}" in readme


def test_invoke_local_answers_test_json(
    serverless: Path, model_server: FolderServer, tmp_path: Path, test_label: int
) -> None:
    run = subprocess.run(
        [str(serverless), "invoke", "local", "--function", "getNumberPrediction", "--path", "test.json"],
        cwd=REPO,
        env=cli_env(model_server, tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    # LiteRT's and TensorFlow's native start-up lines stay off the user's screen.
    assert not NATIVE_NOISE.search(run.stdout + run.stderr), run.stdout + run.stderr
    response = result_json(run.stdout)
    assert response["statusCode"] == 200, response
    body = json.loads(response["body"])
    assert body["prediction"] == test_label and body["confidence"] > 0.9
    assert body["model"]["runtime"] == "tflite"
    assert response["headers"]["Access-Control-Allow-Origin"] == "*"


def test_offline_answers_http_requests(
    serverless: Path,
    model_server: FolderServer,
    mnist_export: Path,
    tmp_path: Path,
    test_event: dict[str, Any],
    test_label: int,
    real_mnist,
) -> None:
    # The file `auto` serves is chosen by the export's own timing of its variants: ask the manifest.
    manifest = parse_manifest((mnist_export / "model.json").read_bytes())
    served = "/latest/" + manifest.artifact(manifest.variant(AUTO).artifact).path
    fetched_before = model_server.hits[served]
    offline = Offline(serverless, cli_env(model_server, tmp_path), free_port(), free_port())
    try:
        offline.wait_ready(180)
        status, headers, body = offline.request("POST", "/predict", test_event["body"].encode())
        assert status == 200, (body, "".join(offline.output))
        assert body["prediction"] == test_label and body["model"]["runtime"] == "tflite"
        assert headers["access-control-allow-origin"] in ("*", ORIGIN)  # a browser page may call it
        # curl -d sends form-urlencoded. A raw image body must be application/octet-stream here:
        # serverless-offline base64-encodes only that type (API Gateway also encodes image/*).
        status, _, body = offline.request(
            "POST", "/predict", test_event["body"].encode(), "application/x-www-form-urlencoded"
        )
        assert status == 200 and body["prediction"] == test_label
        digit, label = real_mnist.test_images[1], int(real_mnist.test_labels[1])
        status, _, body = offline.request(
            "POST", "/predict", canvas(digit, np.random.default_rng(0)), "application/octet-stream"
        )
        assert status == 200 and body["prediction"] == label, body
        status, _, body = offline.request("GET", "/model")
        assert status == 200 and body["model"]["loaded"] is True
        status, _, body = offline.request("POST", "/predict", b"{not json")
        assert status == 400 and body["error"]["code"] == "invalid_request"
    finally:
        offline.stop()
    assert offline.process.returncode is not None
    # One warm process served every request: the model was fetched once.
    assert model_server.hits[served] == fetched_before + 1


BUNDLE_RUNNER = """
import json, sys
root = sys.argv[1]
compiled = []  # source files compiled in this process: none may come from the bundle


def audit(event, args):
    if event == "compile" and isinstance(args[1], str) and args[1].startswith((root, "/var/task")):
        compiled.append(args[1])


sys.addaudithook(audit)
sys.path[:0] = [root]
from api.handler import get_number_prediction
event = json.load(open(sys.argv[2]))
response = get_number_prediction(event, None)
from_bundle = {name: module for name, module in list(sys.modules.items())
               if (getattr(module, "__file__", None) or "").startswith(root) and module.__file__.endswith(".py")}
print(json.dumps({"response": response, "path": sys.path, "version": sys.version_info[:2],
                  "tensorflow": "tensorflow" in sys.modules, "ml_model": "ml_model" in sys.modules,
                  "compiled": compiled, "dont_write_bytecode": sys.flags.dont_write_bytecode,
                  "modules": {name: module.__spec__.cached for name, module in from_bundle.items()}}))
"""

PYC_UNCHECKED_HASH = 0b01  # PEP 552: the flags word of a hash-based .pyc that is never checked against its source


@pytest.fixture(scope="module")
def packaged(serverless: Path, model_server: FolderServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`serverless package` once for this module: the folder with the zip and the CloudFormation template."""
    python, version = lambda_like_python()
    out = tmp_path_factory.mktemp("package")
    run = subprocess.run(
        [str(serverless), "package", "--package", str(out)],
        cwd=REPO,
        env=cli_env(model_server, out, LAMBDA_PYTHON_VERSION=version, LAMBDA_PYTHON_BIN=python),
        capture_output=True,
        text=True,
        timeout=1500,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    return out


def test_the_template_sends_every_request_to_the_handler(packaged: Path) -> None:
    """The packaged CloudFormation: one `$default` route → one Lambda proxy integration (payload 2.0) →
    the function, which API Gateway may invoke; CORS configured on the API itself."""
    resources = json.loads((packaged / "cloudformation-template-update-stack.json").read_text())["Resources"]
    by_type: dict[str, list[dict[str, Any]]] = {}
    for name, resource in resources.items():
        by_type.setdefault(resource["Type"], []).append({"Name": name, **resource.get("Properties", {})})
    routes = by_type["AWS::ApiGatewayV2::Route"]
    assert [route["RouteKey"] for route in routes] == ["$default"]
    [integration] = by_type["AWS::ApiGatewayV2::Integration"]
    assert routes[0]["Target"]["Fn::Join"][1][1] == {"Ref": integration["Name"]}
    assert integration["IntegrationType"] == "AWS_PROXY" and integration["PayloadFormatVersion"] == "2.0"
    [function] = by_type["AWS::Lambda::Function"]
    assert integration["IntegrationUri"] == {"Fn::GetAtt": [function["Name"], "Arn"]}
    assert function["Handler"] == "api/handler.get_number_prediction" and function["Runtime"] == "python3.12"
    [permission] = by_type["AWS::Lambda::Permission"]
    assert permission["FunctionName"] == {"Fn::GetAtt": [function["Name"], "Arn"]}
    assert permission["Principal"] == "apigateway.amazonaws.com"
    [api] = by_type["AWS::ApiGatewayV2::Api"]
    assert api["ProtocolType"] == "HTTP"
    cors = api["CorsConfiguration"]
    assert cors["AllowOrigins"] == ["*"] and {"GET", "POST", "OPTIONS"} <= set(cors["AllowMethods"])
    assert "Content-Type" in cors["AllowHeaders"]
    [stage] = by_type["AWS::ApiGatewayV2::Stage"]
    assert stage["StageName"] == "$default" and stage["AutoDeploy"] is True


def test_the_lambda_bundle_works_on_its_own(
    packaged: Path, model_server: FolderServer, tmp_path: Path, test_label: int
) -> None:
    python, version = lambda_like_python()
    bundle = packaged / "number-prediction.zip"
    with zipfile.ZipFile(bundle) as archive:
        names = archive.namelist()
        unzipped = sum(info.file_size for info in archive.infolist())
        archive.extractall(tmp_path / "bundle")
    assert unzipped < BUNDLE_UNZIPPED_LIMIT, f"{unzipped / 2**20:.0f} MB unzipped"
    tops = {name.split("/", 1)[0] for name in names}
    assert {"api", "ai_edge_litert", "numpy", "PIL"} <= tops
    assert "api/app/openapi.json" in names  # served at GET /openapi.json
    assert not tops & {
        "ml_model",
        "tests",
        "tensorflow",
        "keras",
        "boto3",
        "botocore",
        "node_modules",
        "scripts",
        "bench",
        ".venv",
        "test.json",
        "serverless.yml",
        "package.json",
    }
    # Bytecode for the Lambda's Python beside every module (plugins/compile-bytecode), and no other.
    tag = f"cpython-{version.replace('.', '')}"
    pyc = {name for name in names if name.endswith(".pyc")}
    assert pyc and all(name.endswith(f".{tag}.pyc") and name.split("/")[-2:-1] == ["__pycache__"] for name in pyc)
    for source in (name for name in names if name.endswith(".py")):
        folder, slash, module = source.rpartition("/")
        assert f"{folder}{slash}__pycache__/{module[:-3]}.{tag}.pyc" in pyc, f"no bytecode for {source}"
    wheels = {name.split("/", 1)[0] for name in names if name.endswith(".so")}
    assert wheels <= {"ai_edge_litert", "numpy", "numpy.libs", "PIL", "pillow.libs", "ml_dtypes", "google", "orjson"}

    runner = tmp_path / "run_bundle.py"
    runner.write_text(BUNDLE_RUNNER)
    env = {
        "MODEL_URL": f"{model_server.url}/latest/model.json",
        "MODEL_CACHE_DIR": str(tmp_path / "lambda-tmp"),
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
    }
    # As on Lambda: the code folder is read-only. -I: no PYTHONPATH, no user site; -S: no
    # site-packages (only the bundle and the standard library); -B: never write bytecode.
    task = tmp_path / "bundle"
    for path in [task, *task.rglob("*")]:
        path.chmod(path.stat().st_mode & ~0o222)
    try:
        result = subprocess.run(
            [python, "-I", "-S", "-B", str(runner), str(task), str(REPO / "test.json")],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        for path in [task, *task.rglob("*")]:
            path.chmod(path.stat().st_mode | 0o200)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    # Every module the first request imported from the bundle came from its .pyc: nothing was compiled.
    assert report["dont_write_bytecode"] and report["compiled"] == []
    assert {"api.handler", "api.runtime.model_store", "numpy", "PIL"} <= set(report["modules"])
    for name, cached in report["modules"].items():
        assert cached and Path(cached).is_file(), f"{name} has no bytecode at {cached}"
        flags = int.from_bytes(Path(cached).read_bytes()[4:8], "little")
        assert flags == PYC_UNCHECKED_HASH, f"{cached} is not an unchecked hash-based .pyc"
    assert report["version"] == [int(part) for part in version.split(".")]
    assert not report["tensorflow"] and not report["ml_model"]
    assert not any("site-packages" in entry or ".venv" in entry for entry in report["path"])
    response = report["response"]
    assert response["statusCode"] == 200, response
    body = json.loads(response["body"])
    assert body["prediction"] == test_label and body["model"]["runtime"] == "tflite"

    # The drawing page travels in the bundle too.
    page_event = tmp_path / "page.json"
    page_event.write_text(
        json.dumps(
            {
                "version": "2.0",
                "rawPath": "/",
                "headers": {},
                "requestContext": {"http": {"method": "GET", "path": "/"}},
            }
        )
    )
    result = subprocess.run(
        [python, "-I", "-S", str(runner), str(tmp_path / "bundle"), str(page_event)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    page = json.loads(result.stdout.strip().splitlines()[-1])["response"]
    assert page["statusCode"] == 200 and page["headers"]["Content-Type"] == "text/html; charset=utf-8"
    assert "<canvas" in page["body"] and "script-src 'sha256-" in page["headers"]["Content-Security-Policy"]


# ---------------------------------------------------------------- cost and abuse limits


def test_the_packaged_template_passes_cfn_lint_with_its_cost_limits(packaged: Path) -> None:
    template_path = packaged / "cloudformation-template-update-stack.json"
    cfn_lint = Path(sys.executable).with_name("cfn-lint")  # the dev extra's console script, beside this Python
    lint = subprocess.run([str(cfn_lint), str(template_path)], capture_output=True, text=True, timeout=300)
    # cfn-lint's exit code is a bit mask: 2 errors, 4 warnings, 8 informational. No errors allowed.
    assert lint.returncode & 2 == 0 and lint.returncode in (0, 4, 8, 12), lint.stdout + lint.stderr
    resources = json.loads(template_path.read_text())["Resources"]
    function = next(r for r in resources.values() if r["Type"] == "AWS::Lambda::Function")
    assert int(function["Properties"]["ReservedConcurrentExecutions"]) == 2  # .env.development
    routes = resources["HttpApiStage"]["Properties"]["DefaultRouteSettings"]
    assert (float(routes["ThrottlingRateLimit"]), int(routes["ThrottlingBurstLimit"])) == (5, 10)


@pytest.mark.parametrize(
    "stage, env, expected",
    [
        ("production", {}, (10, 20, 40)),  # .env.production
        (
            "production",
            {"LAMBDA_RESERVED_CONCURRENCY": "3", "API_THROTTLE_RATE": "7", "API_THROTTLE_BURST": "9"},
            (3, 7, 9),
        ),
    ],
)
def test_cost_limits_are_set_per_stage(
    serverless: Path,
    model_server: FolderServer,
    tmp_path: Path,
    stage: str,
    env: dict[str, str],
    expected: tuple[int, int, int],
) -> None:
    run = subprocess.run(
        [str(serverless), "print", "--stage", stage, "--format", "json"],
        cwd=REPO,
        env=cli_env(model_server, tmp_path, **env),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    config = json.loads(run.stdout[run.stdout.index("{") :])
    routes = config["resources"]["extensions"]["HttpApiStage"]["Properties"]["DefaultRouteSettings"]
    got = (
        int(config["functions"]["getNumberPrediction"]["reservedConcurrency"]),
        int(routes["ThrottlingRateLimit"]),
        int(routes["ThrottlingBurstLimit"]),
    )
    assert got == expected
