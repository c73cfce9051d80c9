"""Calling the handler in-process as Lambda does, for the tests of what it answers (unit and slow alike).

`call` checks what every response carries (CORS headers, no base64 body) and gives the status,
headers and parsed body; `post` sends a JSON body to `POST /predict` without a Lambda context;
`invoke` is the bare response. `DIGIT` is a plain array that is not blank, `BLANK` one that is.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from api import handler
from tests.support.api_support import LambdaContext, http_event

CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type, Inference-Header-Content-Length",
    "Access-Control-Expose-Headers": "Inference-Header-Content-Length",
}
DIGIT = [[0] * 28] * 10 + [[0] * 10 + [255] * 8 + [0] * 10] * 8 + [[0] * 28] * 10  # not blank (a blank one is a 400)
BLANK = [[0] * 28] * 28


def call(event: Any) -> tuple[int, dict[str, str], Any]:
    response = handler.get_number_prediction(event, LambdaContext())
    assert set(response) == {"statusCode", "headers", "body", "isBase64Encoded"}
    assert response["isBase64Encoded"] is False
    for name, value in CORS.items():
        assert response["headers"][name] == value
    body = json.loads(response["body"]) if response["body"] else None
    return response["statusCode"], response["headers"], body


def post(body: Any) -> tuple[int, Any]:
    response = handler.get_number_prediction(http_event(body=body), None)
    return response["statusCode"], json.loads(response["body"])


def data_url(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def invoke(event: dict[str, Any]) -> dict[str, Any]:
    """The handler's response to `event`, with a Lambda context."""
    return handler.get_number_prediction(event, LambdaContext())
