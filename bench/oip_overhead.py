"""What each request form costs besides the model: `/predict` JSON against the Open Inference
Protocol's JSON and binary tensors, for one image and a batch of 64 real MNIST test digits.

    python bench/oip_overhead.py
    python bench/oip_overhead.py --repeats 50        # a quicker look

Per form: the request body's size as API Gateway passes it to the Lambda (binary bodies arrive
base64-encoded), the time to read it into the model's float32 batch (base64 decoding included), and
the time to write the answer for the same probabilities into the Lambda's response event. The model's
own time is the same for every form and is not included (bench/api_latency.py measures it). Forms
take turns in every repeat, so machine drift hits them alike; medians, and ratios to `/predict`.
"""

from __future__ import annotations

import argparse
import base64
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from api.app import oip
from api.app.http import Request, Response
from api.app.inputs import read_inputs, response_body
from ml_model.data import load_mnist


def bodies(pixels: np.ndarray) -> dict[str, tuple[bytes, dict[str, str]]]:
    """Each form's body and headers for the uint8 images `pixels` [N, 28, 28]."""
    count = len(pixels)
    forms: dict[str, tuple[bytes, dict[str, str]]] = {
        "/predict JSON 0-255": (json.dumps({"images": pixels.tolist()}).encode(), {"content-type": "application/json"})
    }
    for datatype, values in (("UINT8", pixels), ("FP32", pixels.astype("<f4") / np.float32(255))):
        tensor = {"name": "image", "shape": [count, 28, 28, 1], "datatype": datatype}
        body = json.dumps({"inputs": [{**tensor, "data": values.ravel().tolist()}]}).encode()
        forms[f"v2 JSON {datatype}"] = (body, {})
        header = json.dumps(
            {
                "inputs": [{**tensor, "parameters": {"binary_data_size": values.nbytes}}],
                "parameters": {"binary_data_output": True},
            }
        ).encode()
        forms[f"v2 binary {datatype}"] = (
            header + values.tobytes(),
            {oip.HEADER_LENGTH: str(len(header)), "content-type": oip.BINARY_MEDIA_TYPE},
        )
    return forms


def event_body(body: bytes, headers: dict[str, str]) -> str:
    """The body as the Lambda event carries it: text, or base64 for a binary body."""
    return base64.b64encode(body).decode() if oip.HEADER_LENGTH in headers else body.decode()


def reader(name: str, body: bytes, headers: dict[str, str]) -> Callable[[], Any]:
    wire = event_body(body, headers)
    binary = oip.HEADER_LENGTH in headers

    def read() -> Any:
        raw = base64.b64decode(wire) if binary else wire.encode()
        if name.startswith("/predict"):
            return read_inputs(Request("POST", "/predict", headers, raw))
        return oip.parse_infer_request(raw, headers.get(oip.HEADER_LENGTH))

    return read


def writer(name: str, body: bytes, headers: dict[str, str], probabilities: np.ndarray) -> Callable[[], Any]:
    if name.startswith("/predict"):
        return lambda: Response(200, response_body("images", probabilities, {"version": "v"})).to_event()
    request = oip.parse_infer_request(body, headers.get(oip.HEADER_LENGTH))
    return lambda: oip.infer_response(request, probabilities, "v").to_event()


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()
    mnist = load_mnist()
    rng = np.random.default_rng(0)
    for count in (1, 64):
        pixels = mnist.test_images[:count]
        probabilities = rng.dirichlet(np.ones(10), size=count).astype(np.float32)
        forms = bodies(pixels)
        readers = {name: reader(name, *form) for name, form in forms.items()}
        writers = {name: writer(name, *form, probabilities) for name, form in forms.items()}
        timings: dict[str, dict[str, list[float]]] = {name: {"read": [], "write": []} for name in forms}
        for _ in range(args.repeats):
            for name in forms:
                for step, action in (("read", readers[name]), ("write", writers[name])):
                    started = time.perf_counter()
                    action()
                    timings[name][step].append(time.perf_counter() - started)
        base = {step: median_ms(timings["/predict JSON 0-255"][step]) for step in ("read", "write")}
        print(f"\n{count} image(s), {args.repeats} repeats; medians")
        print(
            f"  {'form':22} {'event body':>11} {'read ms':>8} {'x /predict':>10}"
            f" {'answer ms':>9} {'x /predict':>10} {'answer':>8}"
        )
        for name, (body, headers) in forms.items():
            read, write = median_ms(timings[name]["read"]), median_ms(timings[name]["write"])
            answer = len(writers[name]()["body"])
            print(
                f"  {name:22} {len(event_body(body, headers)):>10,}B {read:8.3f} {read / base['read']:10.2f} "
                f"{write:9.3f} {write / base['write']:10.2f} {answer:>7,}B"
            )


if __name__ == "__main__":
    main()
