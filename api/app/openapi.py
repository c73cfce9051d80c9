"""`GET /openapi.json`: the OpenAPI 3.1 document of every route (`openapi.json` beside this module)."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from api.app.http import Request, Response

OPENAPI_DOCUMENT = Path(__file__).with_name("openapi.json")


def openapi(request: Request) -> Response:
    """The OpenAPI document, read once per process."""
    return Response(200, openapi_document())


@lru_cache(maxsize=1)
def openapi_document() -> dict[str, Any]:
    return json.loads(OPENAPI_DOCUMENT.read_text(encoding="utf-8"))
