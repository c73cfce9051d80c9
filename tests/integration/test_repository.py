"""The repository as a fresh clone shows it: files the README has users create stay out of `git
status`, and nothing points at documents the repository does not hold."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# Files the commands of the README and docs/ write into the checkout.
README_CREATED = ("digit.json", "digit.png", "infer.json", "apigw.json")


def git(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def tracked() -> list[Path]:
    listed = git("ls-files")
    if listed.returncode != 0:
        pytest.fail(f"the tests run from a git checkout: {listed.stderr.strip()}")
    return [REPO / name for name in listed.stdout.splitlines() if (REPO / name).is_file()]


def test_files_the_readme_creates_are_ignored(tracked: list[Path]) -> None:
    # The README and the pages under docs/ it links to.
    readme = "\n".join(
        page.read_text(encoding="utf-8") for page in [REPO / "README.md", *sorted(REPO.glob("docs/*.md"))]
    )
    for name in README_CREATED:
        assert name in readme
    ignored = git("check-ignore", *README_CREATED)
    assert set(ignored.stdout.split()) == set(README_CREATED), ignored.stdout + ignored.stderr


def test_no_pointer_to_documents_outside_the_repository(tracked: list[Path]) -> None:
    # Built from parts, so that this file does not match itself.
    outside = re.compile("|".join([r"DESIGN" + r"\.md", r"(?<![\w.-])shared" + "/", r"\.\./shared"]))
    offenders = []
    for path in tracked:
        if path.suffix in {".png", ".jpg", ".gz", ".zip"} or path.name == "package-lock.json":
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        offenders += [
            f"{path.relative_to(REPO)}:{n}" for n, line in enumerate(text.splitlines(), 1) if outside.search(line)
        ]
    assert not offenders, offenders
