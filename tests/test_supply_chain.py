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
