"""`getNumberPrediction`: the Lambda handler behind every route of the API (the ROUTES table).

The drawing page `GET /`, `POST /predict`, `GET /model`, `GET /openapi.json` (the OpenAPI document
of every route) and the Open Inference Protocol v2 under `/v2` (`api.app.oip`). Parse → predict → format.
Errors are raised where they are found and become responses in `api.app.http.error_response`,
shaped as the route says; each request logs one JSON line (request id, route, status, latency,
runtime). The model is loaded on first use through `model_store()`, which tests may replace.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from api.app import oip
from api.app.http import ErrorStyle, Request, Response, dumps, error_response, event_path, parse_event
from api.app.inputs import FORM_IMAGE, Inputs, number_body, read_inputs, response_body
from api.app.openapi import openapi
from api.app.page import drawing_page
from api.app.routing import Action, Route, error_style, resolve
from api.errors import InvalidRequest, MethodNotAllowed, NotFound
from api.lazy import lazy_import
from api.runtime.model_store import ModelStore
from api.runtime.settings import Settings

if TYPE_CHECKING:
    from api.pictures.reading import ReadDigit
    from api.runtime.reader import LiteRTReader

# The number reader's decoding loads with the first `"read": "number"` request.
reading = lazy_import("api.pictures.reading")

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
    if inputs.numbers is not None:  # "read": "number"
        return Response(200, number_body(inputs, _read_numbers(inputs, store.reader()), model.info))
    probabilities = model.predictor.predict(inputs.batch)
    return Response(200, response_body(inputs, probabilities, model.info))


def _read_numbers(inputs: Inputs, reader: LiteRTReader) -> list[list[ReadDigit]]:
    """Each picture's number, read from its line by the reader (one forward pass each); a picture's
    400 names its index in a batch."""
    readings = []
    for index, line in enumerate(inputs.numbers or ()):
        try:
            readings.append(reading.read_line(line, reader.run, reader.stride))
        except InvalidRequest as exc:
            if inputs.form == FORM_IMAGE:
                raise
            raise type(exc)(f"{inputs.form}[{index}]: {exc.message}", exc.headers) from None
    return readings


def describe_model(request: Request) -> Response:
    """The manifest's public part, the runtime, whether the model is loaded, and, once the number reader
    is, which of its variants is served (`readerPrecision`)."""
    store = model_store()
    manifest = store.manifest()
    model = {**manifest.public(), "runtime": store.runtime(), "loaded": store.loaded is not None}
    if store.reader_precision is not None:
        model["readerPrecision"] = store.reader_precision
    return Response(200, {"model": model})


def _with_store(action: Callable[[Request, ModelStore], Response]) -> Action:
    """A route action that also gets the process's model store (looked up per request)."""
    return lambda request: action(request, model_store())


_V2 = ErrorStyle.OIP  # the Open Inference Protocol's routes answer errors in its own shape
_model_metadata, _model_ready, _infer = map(_with_store, (oip.model_metadata, oip.model_ready, oip.infer))

# Path pattern → route; `{name}` segments become `request.params`. api/app/openapi.json documents each.
ROUTES: dict[str, Route] = {
    "/": Route({"GET": drawing_page, "HEAD": drawing_page}),
    "/predict": Route({"POST": predict}),
    "/model": Route({"GET": describe_model}),
    "/openapi.json": Route({"GET": openapi}),
    "/v2": Route({"GET": oip.server_metadata}, _V2),
    "/v2/health/live": Route({"GET": oip.server_live}, _V2),
    "/v2/health/ready": Route({"GET": _with_store(oip.server_ready)}, _V2),
    "/v2/models/{name}": Route({"GET": _model_metadata}, _V2),
    "/v2/models/{name}/versions/{version}": Route({"GET": _model_metadata}, _V2),
    "/v2/models/{name}/ready": Route({"GET": _model_ready}, _V2),
    "/v2/models/{name}/versions/{version}/ready": Route({"GET": _model_ready}, _V2),
    "/v2/models/{name}/infer": Route({"POST": _infer}, _V2),
    "/v2/models/{name}/versions/{version}/infer": Route({"POST": _infer}, _V2),
}


def route(request: Request) -> Response:
    found = resolve(ROUTES, request.path)
    if found is None:
        raise NotFound(f"no route {request.path}; the API has {', '.join(ROUTES)}")
    target, params = found
    if request.method == "OPTIONS":  # a CORS preflight (API Gateway answers these itself when deployed)
        return Response(204)
    action = target.methods.get(request.method)
    if params:
        request = dataclasses.replace(request, params=params)
    if action is None and request.method == "HEAD" and "GET" in target.methods:
        # HEAD is GET without the body (RFC 9110 §9.3.2): same status and headers, for every GET route.
        return dataclasses.replace(target.methods["GET"](request), payload=None, raw="")
    if action is None:
        raise MethodNotAllowed(request.method, _allowed(target))
    return action(request)


def _allowed(target: Route) -> tuple[str, ...]:
    """The methods a route answers: its own, HEAD wherever GET is, and OPTIONS (preflight)."""
    methods = tuple(target.methods)
    return methods + (("HEAD",) if "GET" in methods and "HEAD" not in methods else ()) + ("OPTIONS",)


def get_number_prediction(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The Lambda entry point (`api/handler.get_number_prediction` in serverless.yml)."""
    started = time.perf_counter()
    request: Request | None = None
    try:
        request = parse_event(event, context)
        response = route(request)
    except Exception as exc:  # noqa: BLE001 - every failure is answered, none escapes to the runtime
        response = error_response(exc, error_style(ROUTES, request.path if request else event_path(event)))
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
    if response.error:
        record["error"] = response.error
    # `log.info` would also look up its caller's file and line by walking the stack, which every
    # line would carry and none needs; the record goes to the same handlers and filters without it.
    log.handle(log.makeRecord(log.name, logging.INFO, __file__, 0, dumps(record), None, None))
