"""The environment of a user's shell, for the tests of the CLI's native-log filter that run it as a user would."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def user_env() -> dict[str, str]:
    """A user's shell: no TF_CPP_MIN_LOG_LEVEL (the suite sets one for itself), this checkout first."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    return {**env, "PYTHONPATH": str(REPO), "MNIST_MIRRORS": ""}
