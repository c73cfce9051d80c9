#!/usr/bin/env bash
# Set everything up (first run only), train the seed's CNN on real MNIST, and evaluate the export.
# Extra arguments go to `python -m ml_model train`, e.g. `bash scripts/demo.sh --epochs 3`.
set -euo pipefail
source "$(dirname "$0")/setup.sh"
python -m ml_model train "$@"
python -m ml_model evaluate ml_model/exports/latest
