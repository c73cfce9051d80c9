#!/usr/bin/env bash
# Refresh requirements-dev.lock: every package of the development and test environment (pyproject.toml
# with the `dev` extra), pinned with hashes, for CPython 3.11 on x86_64 Linux (what CI and the
# developers' machines run). scripts/setup.sh installs exactly this file. Extra arguments go to
# `uv pip compile`, e.g. `bash scripts/lock.sh --upgrade-package numpy`.
set -euo pipefail
cd "$(dirname "$0")/.."
uv=uv
if [ -x .venv/bin/uv ]; then uv=.venv/bin/uv; fi
exec "$uv" pip compile pyproject.toml --extra dev \
  --python-version 3.11 --python-platform x86_64-unknown-linux-gnu \
  --constraint scripts/lock-constraints.txt \
  --generate-hashes --quiet --custom-compile-command "bash scripts/lock.sh" \
  -o requirements-dev.lock "$@"
