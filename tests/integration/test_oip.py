"""The API Gateway export of the OpenAPI document (scripts/openapi_apigateway.py, run as users run it):
valid OpenAPI 3.0 with a Lambda integration per operation, and a bad ARN refused in one line."""

from __future__ import annotations

import json
import subprocess
import sys

from openapi_spec_validator import validate

from tests.support.oip_support import HTTP_METHODS, REPO, openapi_document

# ---------------------------------------------------------------- the OpenAPI document


def test_the_api_gateway_export_is_valid_openapi_3_0_with_a_lambda_integration_per_operation() -> None:
    arn = "arn:aws:lambda:us-east-1:123456789012:function:number-prediction-production-getNumberPrediction"
    run = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "openapi_apigateway.py"), "--function-arn", arn],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    exported = json.loads(run.stdout)
    assert exported["openapi"] == "3.0.1"
    validate(exported)  # the validator picks the 3.0 schema from the version
    assert exported["paths"].keys() == openapi_document()["paths"].keys()
    for item in exported["paths"].values():
        for operation in (item[method] for method in item if method in HTTP_METHODS):
            assert operation["x-amazon-apigateway-integration"] == {
                "type": "aws_proxy",
                "httpMethod": "POST",
                "uri": arn,
                "payloadFormatVersion": "2.0",
            }


def test_the_api_gateway_export_refuses_a_bad_arn_in_one_line() -> None:
    run = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "openapi_apigateway.py"), "--function-arn", "x"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2 and run.stdout == "" and run.stderr.count("\n") == 1 and "error:" in run.stderr
