"""`getNumberPrediction`: the Lambda handler behind `POST /predict`, `GET /model` and the drawing page `GET /`.

Parse → predict → format. Errors are raised where they are found and become responses in
`api.http.error_response`; each request logs one JSON line (request id, route, status, latency,
runtime). The model is loaded on first use through `model_store()`, which tests may replace.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any, Callable

from .errors import MethodNotAllowed, NotFound
from .http import Request, Response, error_response, parse_event
from .inputs import read_inputs, response_body
from .model_store import ModelStore
from .page import drawing_page
from .settings import Settings

log = logging.getLogger("api.request")

_store: ModelStore | None = None


def model_store() -> ModelStore:
    """The process's one model store, configured from the environment on first use."""
    global _store
    if _store is None:
        _store = ModelStore(Settings.from_env())
    return _store


def use_model_store(store: ModelStore | None) -> None:
    """Replace the process's model store (None: build a fresh one from the environment next time)."""
    global _store
    _store = store


def predict(request: Request) -> Response:
    store = model_store()
    inputs = read_inputs(request, store.settings.max_batch)
    model = store.model()
    probabilities = model.predictor.predict(inputs.batch)
    return Response(200, response_body(inputs, probabilities, model.info))


def describe_model(request: Request) -> Response:
    store = model_store()
    manifest = store.manifest()
    return Response(200, {"model": {**manifest.public(), "runtime": store.runtime(), "loaded": store.loaded is not None}})


ROUTES: dict[str, dict[str, Callable[[Request], Response]]] = {
    "/": {"GET": drawing_page, "HEAD": drawing_page},
    "/predict": {"POST": predict},
    "/model": {"GET": describe_model},
}


def route(request: Request) -> Response:
    methods = ROUTES.get(request.path)
    if methods is None:
        raise NotFound(f"no route {request.path}; the API has {', '.join(ROUTES)}")
    if request.method == "OPTIONS":  # a CORS preflight (API Gateway answers these itself when deployed)
        return Response(204)
    action = methods.get(request.method)
    if action is None:
        raise MethodNotAllowed(request.method, tuple(methods) + ("OPTIONS",))
    return action(request)


def get_number_prediction(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The Lambda entry point (`api/handler.get_number_prediction` in serverless.yml)."""
    started = time.perf_counter()
    request: Request | None = None
    try:
        request = parse_event(event, context)
        response = route(request)
    except Exception as exc:  # noqa: BLE001 - every failure is answered, none escapes to the runtime
        response = error_response(exc)
    _log_request(request, response, started)
    return response.to_event()


def _log_request(request: Request | None, response: Response, started: float) -> None:
    if log.level == logging.NOTSET:  # Lambda's root logger is at WARNING; these lines are INFO
        log.setLevel(logging.INFO)
    if not log.isEnabledFor(logging.INFO):
        return
    loaded = _store.loaded if _store is not None else None
    record = {
        "requestId": request.request_id if request else "",
        "route": f"{request.method} {request.path}" if request else "",
        "status": response.status,
        "latencyMs": round((time.perf_counter() - started) * 1000, 3),
        "runtime": loaded.runtime if loaded else None,
    }
    if response.status >= 400 and isinstance(response.payload, dict):
        record["error"] = response.payload["error"]["code"]
    log.info(json.dumps(record, separators=(",", ":")))
