"""The API loads the trained export from the local model server (`python -m ml_model serve`) over
loopback HTTP, as in the seed's development flow. The server itself: tests/integration/test_serve.py."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from ml_model.serve import make_server

pytestmark = [pytest.mark.network, pytest.mark.timeout(60)]


def test_the_api_loads_the_model_from_the_local_server(mnist_export: Path, real_mnist: Any, tmp_path: Path) -> None:
    """The seed's development flow: MODEL_URL=http://localhost:PORT/latest/model.json."""
    import numpy as np

    from tests.support.api_support import store_for

    server = make_server(mnist_export.parent, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        store = store_for(f"{server.url}latest/model.json", tmp_path / "cache", runtime="tflite")
        predictor = store.model().predictor
        images = real_mnist.test_images[:200, :, :, None].astype(np.float32) / 255.0
        accuracy = float(np.mean(predictor.predict(images).argmax(axis=1) == real_mnist.test_labels[:200]))
    finally:
        server.shutdown()
        server.server_close()
    assert accuracy > 0.9, accuracy
