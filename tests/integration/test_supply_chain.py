"""Supply chain and secrets: known vulnerabilities in what ships, and no AWS keys in the repository.

- `npm audit --omit=dev`: the npm packages that would ship (none today: the Serverless CLI and its
  plugins are development tools that never reach Lambda; the test keeps it that way if one is added);
- every tracked file (`git ls-files`) scanned for AWS access key ids and secret keys.

The audit needs its advisory database; when that cannot be reached (no network) it is skipped with
that reason, the one skip this suite allows itself. `pip-audit` of the Lambda bundle:
tests/slow/test_supply_chain.py; the lock: tests/unit/test_supply_chain.py.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.supply_chain_support import secrets_in, skip_if_offline

REPO = Path(__file__).resolve().parents[2]


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


@pytest.mark.network
@pytest.mark.timeout(300)
def test_npm_audit_of_what_ships() -> None:
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("npm is not on PATH (scripts/setup.sh needs it too)")
    run = subprocess.run([npm, "audit", "--omit=dev", "--json"], cwd=REPO, capture_output=True, text=True, timeout=240)
    skip_if_offline(run.stdout + run.stderr, "npm audit")
    report = json.loads(run.stdout)
    counts = report["metadata"]["vulnerabilities"]
    assert counts["high"] == 0 and counts["critical"] == 0, report.get("vulnerabilities")
