"""Supply chain and secrets, without leaving the process: the key scan finds AWS keys, and the lock
(requirements-dev.lock) pins every package with hashes, satisfies pyproject.toml, pins what the Lambda
bundle ships and is what is installed here.

The scan of every tracked file and `npm audit`: tests/integration/test_supply_chain.py; `pip-audit` of
the Lambda bundle: tests/slow/test_supply_chain.py.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.support.supply_chain_support import secrets_in

if TYPE_CHECKING:
    from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "text",
    [
        "aws_access_key_id = " + "AKIA" + "Z7QWERTYUIOPASDF",
        "export AWS_SECRET_ACCESS_KEY=" + "wJalrXUtnFEMI/K7MDENG/bPxRfiCY" + "EXAMPLEKEY",
        '"aws_secret_access_key": "' + "abcdABCD0123456789/+abcdABCD0123456789/+" + '"',
    ],
)
def test_the_key_scan_finds_keys(text: str) -> None:
    assert secrets_in(text)


# ---------------------------------------------------------------- the lock

LOCK = REPO / "requirements-dev.lock"
LOCKED_PLATFORM = {
    "python_version": "3.11",
    "python_full_version": "3.11.7",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "x86_64",
    "os_name": "posix",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
}


def pins(text: str) -> dict[str, str]:
    """`name==version` lines of a requirements file → {normalised name: version}."""
    from packaging.utils import canonicalize_name

    found = {}
    for line in text.splitlines():
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)", line)
        if match:
            found[canonicalize_name(match.group(1))] = match.group(2)
    return found


def project_requirements() -> list[Requirement]:
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
            f"{LOCK.name} pins {name}=={locked[name]}, outside {requirement}: run bash scripts/lock.sh"
        )
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
    different = {
        name: (version, installed.get(name))
        for name, version in pins(LOCK.read_text()).items()
        if installed.get(name) != version
    }
    assert not different, f"installed packages differ from {LOCK.name} (locked, installed): {different}"
