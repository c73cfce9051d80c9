"""Write `test.json`: an API Gateway HTTP API (2.0) event for `POST /predict` with one MNIST test digit.

    python scripts/make_test_event.py [--index 0] [--export ml_model/exports/latest] [--out test.json]

The digit is image `--index` of the real MNIST test set (default 0, a 7), sent as a 28x28 array of
0-255 values, so `serverless invoke local --function getNumberPrediction --path test.json` must
answer with its label. With `--export`, the digit is first checked against that model: the script
refuses one the model does not classify right with high confidence.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_INDEX = 0
MIN_CONFIDENCE = 0.99


def http_api_event(body: dict[str, Any], path: str = "/predict", method: str = "POST") -> dict[str, Any]:
    """A payload-2.0 event as API Gateway's HTTP API sends it to Lambda (fixed ids and times)."""
    return {
        "version": "2.0",
        "routeKey": f"{method} {path}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"content-type": "application/json", "host": "localhost", "user-agent": "test.json"},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": "localhost",
            "domainPrefix": "localhost",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "test.json",
            },
            "requestId": "test-json-request",
            "routeKey": f"{method} {path}",
            "stage": "$default",
            "time": "26/Nov/2026:10:00:00 +0000",
            "timeEpoch": 1795694400000,
        },
        "body": json.dumps(body, separators=(",", ":")),
        "isBase64Encoded": False,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=int, default=DEFAULT_INDEX, help="MNIST test-set index (default 0)")
    parser.add_argument("--export", type=Path, help="check the digit against this export first")
    parser.add_argument("--out", type=Path, default=REPO / "test.json")
    args = parser.parse_args(argv)

    sys.path.insert(0, str(REPO))
    from ml_model.data import load_mnist

    mnist = load_mnist()
    image, label = mnist.test_images[args.index], int(mnist.test_labels[args.index])
    if args.export:
        from api.runtime.predictor import open_export

        probabilities = open_export(args.export).predict(image[np.newaxis, ..., np.newaxis] / 255.0)[0]
        guess, confidence = int(probabilities.argmax()), float(probabilities.max())
        if guess != label or confidence < MIN_CONFIDENCE:
            print(
                f"test image {args.index} (a {label}) is read as {guess} with confidence {confidence:.3f}; "
                "pick another --index",
                file=sys.stderr,
            )
            return 1
    event = http_api_event({"image": image.tolist()})
    args.out.write_text(json.dumps(event, indent=2) + "\n", encoding="utf-8")
    print(f"{args.out}: MNIST test image {args.index}, label {label}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
