"""Supply chain and secrets: known vulnerabilities in what ships, and no AWS keys in the repository.

- `pip-audit` on `api/requirements.txt` (what the Lambda bundle installs, resolved with its
  dependencies) against the PyPI advisory database;
- `npm audit --omit=dev`: the npm packages that would ship (none today: the Serverless CLI and its
  plugins are development tools that never reach Lambda; the test keeps it that way if one is added);
- every tracked file scanned for AWS access key ids and secret keys.

The audits need their advisory databases; when those cannot be reached (no network) the audits
are skipped with that reason, the one skip this suite allows itself.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# Written in pieces so that this file does not match itself.
ACCESS_KEY_ID = re.compile(r"\b(?:A" r"KIA|A" r"SIA|A" r"GPA|A" r"IDA|A" r"ROA)[A-Z2-7]{16}\b")
SECRET_KEY = re.compile(r"(?i)aws.{0,20}secret.{0,20}[=:]\s*['\"]?([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])")
# Placeholders the docs and tests use on purpose.
ALLOWED_SECRETS = {"testing"}
UNREACHABLE = ("ConnectionError", "Max retries exceeded", "Temporary failure in name resolution",
               "Network is unreachable", "ENOTFOUND", "EAI_AGAIN", "ECONNREFUSED", "ETIMEDOUT",
               "audit endpoint returned an error", "Failed to establish a new connection")


def secrets_in(text: str) -> list[str]:
    """The AWS key ids and secret keys in `text` (placeholders aside)."""
    found = ACCESS_KEY_ID.findall(text)
    found += [secret for secret in SECRET_KEY.findall(text) if secret not in ALLOWED_SECRETS]
    return found


def test_no_aws_keys_in_tracked_files() -> None:
    files = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout.split(b"\0")
    scanned = 0
    for name in filter(None, files):
        path = REPO / name.decode()
        if not path.is_file() or path.is_symlink():
            continue
        found = secrets_in(path.read_bytes().decode("utf-8", errors="replace"))
        assert not found, f"{name.decode()} holds what looks like an AWS key"
        scanned += 1
    assert scanned > 50  # the scan really read the repository


@pytest.mark.parametrize("text", [
    "aws_access_key_id = " + "AKIA" + "Z7QWERTYUIOPASDF",
    "export AWS_SECRET_ACCESS_KEY=" + "wJalrXUtnFEMI/K7MDENG/bPxRfiCY" + "EXAMPLEKEY",
    '"aws_secret_access_key": "' + "abcdABCD0123456789/+abcdABCD0123456789/+" + '"',
])
def test_the_key_scan_finds_keys(text: str) -> None:
    assert secrets_in(text)


def _skip_if_offline(output: str, tool: str) -> None:
    if any(marker in output for marker in UNREACHABLE):
        pytest.skip(f"{tool}: the advisory database cannot be reached ({output.strip().splitlines()[-1][:160]})")


@pytest.mark.slow  # resolves and downloads the bundle's wheels (minutes on a cold pip cache)
@pytest.mark.network
@pytest.mark.timeout(900)
def test_pip_audit_of_the_lambda_bundle() -> None:
    """The bundle's pinned packages and everything they pull in: no known vulnerability at all."""
    run = subprocess.run([sys.executable, "-m", "pip_audit", "-r", str(REPO / "api" / "requirements.txt"),
                          "--format", "json", "--progress-spinner", "off"],
                         cwd=REPO, capture_output=True, text=True, timeout=840)
    _skip_if_offline(run.stderr, "pip-audit")
    assert run.stdout.strip(), run.stderr[-2000:]
    report = json.loads(run.stdout)
    audited = {dep["name"].lower(): dep for dep in report["dependencies"]}
    assert {"ai-edge-litert", "numpy", "pillow"} <= set(audited), sorted(audited)
    unaudited = [dep["skip_reason"] for dep in audited.values() if "skip_reason" in dep]
    if len(unaudited) == len(audited):  # a registry mirror that serves packages but not their advisories
        pytest.skip(f"pip-audit: the advisory database cannot be reached ({unaudited[0]})")
    assert not unaudited, unaudited
    vulnerable = {name: [v["id"] for v in dep.get("vulns", [])] for name, dep in audited.items() if dep.get("vulns")}
    assert not vulnerable, f"known vulnerabilities in the Lambda bundle: {vulnerable}"


@pytest.mark.network
@pytest.mark.timeout(300)
def test_npm_audit_of_what_ships() -> None:
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("npm is not on PATH (scripts/setup.sh needs it too)")
    run = subprocess.run([npm, "audit", "--omit=dev", "--json"], cwd=REPO, capture_output=True, text=True, timeout=240)
    _skip_if_offline(run.stdout + run.stderr, "npm audit")
    report = json.loads(run.stdout)
    counts = report["metadata"]["vulnerabilities"]
    assert counts["high"] == 0 and counts["critical"] == 0, report.get("vulnerabilities")


# ---------------------------------------------------------------- the lock

LOCK = REPO / "requirements-dev.lock"
LOCKED_PLATFORM = {"python_version": "3.11", "python_full_version": "3.11.7", "sys_platform": "linux",
                   "platform_system": "Linux", "platform_machine": "x86_64", "os_name": "posix",
                   "implementation_name": "cpython", "platform_python_implementation": "CPython"}


def pins(text: str) -> dict[str, str]:
    """`name==version` lines of a requirements file → {normalised name: version}."""
    from packaging.utils import canonicalize_name

    found = {}
    for line in text.splitlines():
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)", line)
        if match:
            found[canonicalize_name(match.group(1))] = match.group(2)
    return found


def project_requirements() -> list["Requirement"]:
    """pyproject.toml's dependencies and its `dev` extra, as packaging requirements."""
    import tomllib

    from packaging.requirements import Requirement

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return [Requirement(text) for text in [*project["dependencies"], *project["optional-dependencies"]["dev"]]]


def test_the_lock_pins_every_package_with_hashes() -> None:
    text = LOCK.read_text()
    locked = pins(text)
    assert len(locked) > 50  # the whole environment, not the direct dependencies only
    blocks = re.findall(r"^[A-Za-z0-9][^\n]*==[^\n]*(?:\n[ \t]+[^\n]*)*", text, re.MULTILINE)
    assert len(blocks) == len(locked)
    assert all("--hash=sha256:" in block for block in blocks), [b.split()[0] for b in blocks if "--hash" not in b]


def test_the_lock_satisfies_pyproject() -> None:
    """Every dependency pyproject.toml asks for (on the locked platform) is in the lock, in its range."""
    from packaging.utils import canonicalize_name

    locked = pins(LOCK.read_text())
    checked = 0
    for requirement in project_requirements():
        if requirement.marker is not None and not requirement.marker.evaluate(LOCKED_PLATFORM):
            continue
        name = canonicalize_name(requirement.name)
        assert name in locked, f"{requirement} is not in {LOCK.name}: run bash scripts/lock.sh"
        assert requirement.specifier.contains(locked[name], prereleases=True), (
            f"{LOCK.name} pins {name}=={locked[name]}, outside {requirement}: run bash scripts/lock.sh")
        checked += 1
    assert checked >= 15


def test_the_lambda_bundle_pins_what_the_lock_pins() -> None:
    """What the tests run against is what ships: same numpy, Pillow, orjson and LiteRT."""
    bundle, locked = pins((REPO / "api" / "requirements.txt").read_text()), pins(LOCK.read_text())
    assert set(bundle) == {"ai-edge-litert", "numpy", "orjson", "pillow"}, sorted(bundle)
    for name, version in bundle.items():
        assert locked.get(name) == version, f"api/requirements.txt pins {name}=={version}, the lock {locked.get(name)}"


def test_the_installed_environment_is_the_lock() -> None:
    """scripts/setup.sh installed exactly the lock here (this run's packages are the locked ones)."""
    from importlib.metadata import distributions

    from packaging.utils import canonicalize_name

    installed = {canonicalize_name(d.metadata["Name"]): d.version for d in distributions() if d.metadata["Name"]}
    different = {name: (version, installed.get(name)) for name, version in pins(LOCK.read_text()).items()
                 if installed.get(name) != version}
    assert not different, f"installed packages differ from {LOCK.name} (locked, installed): {different}"
