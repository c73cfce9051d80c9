"""`pip-audit` on `api/requirements.txt` (what the Lambda bundle installs, resolved with its dependencies)
against the PyPI advisory database: no known vulnerability at all. Slow: it resolves and downloads the
bundle's wheels (minutes on a cold pip cache).

It needs the advisory database; when that cannot be reached (no network) it is skipped with that
reason, the one skip this suite allows itself. The other supply-chain checks:
tests/unit/test_supply_chain.py and tests/integration/test_supply_chain.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.supply_chain_support import skip_if_offline

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.network
@pytest.mark.timeout(900)
def test_pip_audit_of_the_lambda_bundle() -> None:
    """The bundle's pinned packages and everything they pull in: no known vulnerability at all."""
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip_audit",
            "-r",
            str(REPO / "api" / "requirements.txt"),
            "--format",
            "json",
            "--progress-spinner",
            "off",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=840,
    )
    skip_if_offline(run.stderr, "pip-audit")
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
