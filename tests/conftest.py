"""Shared fixtures. Every test gets its own empty model store and data cache, and nothing here
reaches the network: a download that is attempted fails as it does on the CI machines."""

from __future__ import annotations

import os
from pathlib import Path

# The tests train tiny models on tiny batches, where a second thread costs more in hand-offs
# than it gains, and beside a busy process it can make them many times slower. Set before torch
# is imported, so the subprocesses the tests start (CLI, server) inherit it too.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest  # noqa: E402
import streamlit as st  # noqa: E402
import torch  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402

from support import REPO, SHARED_MNIST  # noqa: E402


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch):
    """A fresh AEDEMO_HOME and AEDEMO_DATA_DIR per test."""
    home = tmp_path / "aedemo-home"
    monkeypatch.setenv("AEDEMO_HOME", str(home))
    monkeypatch.setenv("AEDEMO_DATA_DIR", str(tmp_path / "data"))
    return home


@pytest.fixture(scope="session")
def digits():
    from aedemo.data import load_images
    return load_images("digits")


@pytest.fixture(scope="session")
def mnist_folder() -> Path:
    """The real MNIST test split that every developer and CI run has beside the repo."""
    assert (SHARED_MNIST / "t10k-images-idx3-ubyte.gz").exists(), (
        f"{SHARED_MNIST} is missing: ../shared/data/mnist must sit beside the repository")
    return SHARED_MNIST


@pytest.fixture
def batch(digits) -> torch.Tensor:
    return digits.x_train[:32]


@pytest.fixture
def quiet_env(isolated_home, monkeypatch):
    """A test's service settings: the small digits, the zoo's specs but nothing trained, and
    no worker process (nothing trains here)."""
    monkeypatch.setenv("AEDEMO_ZOO", "0")
    monkeypatch.setenv("AEDEMO_WORKERS", "0")
    monkeypatch.setenv("AEDEMO_DATASET", "digits")


@pytest.fixture
def quiet_service(quiet_env):
    """A Service of its own with quiet_env's settings, its dataset loaded."""
    from aedemo.service import Service

    service = Service()
    assert service.wait_ready(60)
    yield service
    service.shutdown()


@pytest.fixture
def app(quiet_env):
    """A fresh AppTest of app.py with its own service (st.cache_resource is process-wide):
    ``app()`` runs Home, ``app("pages/x.py")`` switches to a page. No zoo, the small digits."""
    from aedemo import ui

    st.cache_resource.clear()
    st.cache_data.clear()

    def make(page: str | None = None):
        # the service loads its dataset in the background: let it finish so pages show data
        assert ui.service().wait_ready(60)
        at = AppTest.from_file(str(REPO / "app.py"), default_timeout=60)
        at.run()
        if page:
            at.switch_page(page)
            at.run()
        return at

    yield make
    ui.service().shutdown()
    st.cache_resource.clear()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    """A real Redis (Debian's redis-server) on a free port, for the shared-queue tests."""
    from support import Redis

    server = Redis(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()
