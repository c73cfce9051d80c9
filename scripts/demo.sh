#!/usr/bin/env bash
# Set everything up (first run only), train the seed's CNN on real MNIST, evaluate the export, and
# answer test.json (MNIST test image 0, a 7) through the Lambda handler with the real Serverless CLI.
# Extra arguments go to `python -m ml_model train`, e.g. `bash scripts/demo.sh --epochs 3`. The demo
# trains the digit network alone (--no-reader); `python -m ml_model train` adds the number reader.
set -euo pipefail
source "$(dirname "$0")/setup.sh"
python -m ml_model train --no-reader "$@"
python -m ml_model evaluate ml_model/exports/latest
echo "--- serverless invoke local --function getNumberPrediction --path test.json" >&2
MODEL_URL="$PWD/ml_model/exports/latest" \
  npx --no-install serverless invoke local --function getNumberPrediction --path test.json
