"""For the supply-chain tests: what AWS keys look like (for the scan of tracked files), and the skip
an audit takes when its advisory database cannot be reached (the one skip the suite allows itself)."""

from __future__ import annotations

import re

import pytest

# Written in pieces so that this file does not match itself.
ACCESS_KEY_ID = re.compile(r"\b(?:A" r"KIA|A" r"SIA|A" r"GPA|A" r"IDA|A" r"ROA)[A-Z2-7]{16}\b")
SECRET_KEY = re.compile(r"(?i)aws.{0,20}secret.{0,20}[=:]\s*['\"]?([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])")
# Placeholders the docs and tests use on purpose.
ALLOWED_SECRETS = {"testing"}
UNREACHABLE = (
    "ConnectionError",
    "Max retries exceeded",
    "Temporary failure in name resolution",
    "Network is unreachable",
    "ENOTFOUND",
    "EAI_AGAIN",
    "ECONNREFUSED",
    "ETIMEDOUT",
    "audit endpoint returned an error",
    "Failed to establish a new connection",
)


def secrets_in(text: str) -> list[str]:
    """The AWS key ids and secret keys in `text` (placeholders aside)."""
    found = ACCESS_KEY_ID.findall(text)
    found += [secret for secret in SECRET_KEY.findall(text) if secret not in ALLOWED_SECRETS]
    return found


def skip_if_offline(output: str, tool: str) -> None:
    if any(marker in output for marker in UNREACHABLE):
        pytest.skip(f"{tool}: the advisory database cannot be reached ({output.strip().splitlines()[-1][:160]})")
