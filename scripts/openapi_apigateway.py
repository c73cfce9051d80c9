"""Write `api/app/openapi.json` as an OpenAPI 3.0 document that API Gateway can import as an HTTP API.

    python scripts/openapi_apigateway.py --function-arn arn:aws:lambda:REGION:ACCOUNT:function:NAME > apigw.json
    aws apigatewayv2 import-api --body file://apigw.json

API Gateway imports OpenAPI 3.0 (not 3.1) and needs each operation's Lambda integration in an
`x-amazon-apigateway-integration` extension. This keeps every path and method of the document, adds
that extension (Lambda proxy, payload format 2.0, as `serverless.yml` deploys it) and rewrites the few
3.1-only constructs (`info.summary`, `license.identifier`, `type` lists). HTTP APIs ignore the
request and response schemas on import; they stay for readers and tools.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

DOCUMENT = Path(__file__).resolve().parents[1] / "api" / "app" / "openapi.json"
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def to_openapi_30(node: Any) -> Any:
    """A copy of a 3.1 schema tree with `"type": [a, b]` written as 3.0's `anyOf`."""
    if isinstance(node, list):
        return [to_openapi_30(item) for item in node]
    if not isinstance(node, dict):
        return node
    copy = {key: to_openapi_30(value) for key, value in node.items()}
    if isinstance(copy.get("type"), list):
        copy["anyOf"] = [{"type": kind} for kind in copy.pop("type")]
    return copy


def apigateway_document(document: dict[str, Any], function_arn: str) -> dict[str, Any]:
    """The document as API Gateway imports it, every operation integrated with `function_arn`."""
    result = to_openapi_30(document)
    result["openapi"] = "3.0.1"
    result["info"].pop("summary", None)
    result["info"].get("license", {}).pop("identifier", None)
    integration = {"type": "aws_proxy", "httpMethod": "POST", "uri": function_arn, "payloadFormatVersion": "2.0"}
    for item in result["paths"].values():
        for method in HTTP_METHODS:
            if method in item:
                item[method]["x-amazon-apigateway-integration"] = dict(integration)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--function-arn", required=True, help="the getNumberPrediction function's ARN")
    args = parser.parse_args(argv)
    if not args.function_arn.startswith("arn:"):
        print(
            f"error: --function-arn must be a Lambda function ARN (arn:aws:lambda:...), not {args.function_arn!r}",
            file=sys.stderr,
        )
        return 2
    document = json.loads(DOCUMENT.read_text(encoding="utf-8"))
    json.dump(apigateway_document(document, args.function_arn), sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
