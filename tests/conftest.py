"""Shared fixtures. Every test gets its own empty model store and data cache, and nothing here
reaches the network: a download that is attempted fails as it does on the CI machines."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

# The tests train tiny models on tiny batches, where a second thread costs more in hand-offs
# than it gains, and beside a busy process it can make them many times slower. Set before torch
# is imported, so the subprocesses the tests start (CLI, server) inherit it too.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest  # noqa: E402
import streamlit as st  # noqa: E402
import torch  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402

from aedemo import data as datasets  # noqa: E402
from aedemo import ui  # noqa: E402
from aedemo.models import build  # noqa: E402
from aedemo.spec import ModelSpec, Trained, train_spec  # noqa: E402
from aedemo.store import ModelStore  # noqa: E402
from aedemo.train import TrainConfig, fit  # noqa: E402
from page_support import no_exception  # noqa: E402
from support import REPO, SHARED_MNIST  # noqa: E402

HERE = Path(__file__).parent
# The modules that take longest on the 2-core CI machine (measured with --durations), run first.
# The two processes take modules in order, a module whole in one of them: a long module taken
# last leaves the other process idle at the end (test_server.py alone takes about 2.7 minutes),
# while many short ones at the end even the two out. The rest keep their collection order. A
# stale list costs time, never a result.
LONGEST_FIRST = ("e2e/test_server.py", "e2e/test_accessibility.py", "e2e/test_browser.py",
                 "test_jobs.py", "e2e/test_classroom.py", "e2e/test_room.py", "test_pages.py",
                 "test_cli.py", "test_zoo.py", "test_codegen.py")


def pytest_collection_modifyitems(items):
    def rank(item) -> int:
        module = Path(item.fspath).relative_to(HERE).as_posix()
        return LONGEST_FIRST.index(module) if module in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)           # stable: the order within a module and among the rest stays


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


# --- the lesson's models, trained once per session ------------------------------------------

# Every store a test needs starts as a copy of one store, trained once for the whole session
# (three stores trained separately cost about 23 trainings; this one is 11). Two epochs on the
# digits: seconds in all, and the images are already digit-like. Three dense ks make a
# rate-distortion curve and the Draw page's bottleneck sweep; two VAE ks (the Generate page
# compares them); every other image variant at the zoo's k = 16, the sparse network at its own
# default k = 64 too.
LESSON_MODELS = [("dense", {"latent_dim": 2}), ("dense", {"latent_dim": 4}),
                 ("dense", {"latent_dim": 16}), ("vae", {"latent_dim": 2}),
                 ("vae", {"latent_dim": 4}), ("denoising", {"latent_dim": 16}),
                 ("sparse", {"latent_dim": 16}), ("sparse", {"latent_dim": 64}),
                 ("conv", {"latent_dim": 16})]


@pytest.fixture(scope="session")
def lesson_store(tmp_path_factory):
    """The store every page test and every browser test with models starts from: the image
    models above, a one-class detector of the digit 0, and a small LSTM. Its LSTM is narrower
    than the app's and sees 256 of the series for a few seconds, which is all a page test needs
    (the page, not the model's quality, is under test). Copy it; never write to it."""
    home = tmp_path_factory.mktemp("lesson-store")
    store = ModelStore(home)
    for variant, hparams in LESSON_MODELS:
        spec = ModelSpec.create(variant, hparams, dataset="digits", train=TrainConfig(epochs=2))
        store.save(spec, train_spec(spec))
    spec = ModelSpec.create("dense", {"latent_dim": 4}, dataset="digits",
                            train=TrainConfig(epochs=4), normal=(0,))
    store.save(spec, train_spec(spec))
    spec = ModelSpec.create("lstm", {"latent_dim": 4, "hidden": 16},
                            train=TrainConfig(epochs=4, batch_size=64))
    model = build("lstm", dict(spec.hparams), seed=0)
    history = fit(model, datasets.make_series().x_train[:256], None, spec.train)
    store.save(spec, Trained(model=model.cpu(), history=history, metrics={}, seconds=0.0))
    return home


@pytest.fixture
def page_app(quiet_env):
    """As test_pages' ``app``, but running the page script itself rather than app.py's
    navigation, so these tests do not depend on every other page in the menu existing."""
    st.cache_resource.clear()
    st.cache_data.clear()

    def make(page: str) -> AppTest:
        assert ui.service().wait_ready(60)
        at = AppTest.from_file(str(REPO / page), default_timeout=60)
        at.run()
        return at

    yield make
    ui.service().shutdown()
    st.cache_resource.clear()


@pytest.fixture
def explore(page_app, lesson_store, isolated_home):
    """A page script run on a copy of the lesson's models, checked to have raised nothing."""
    shutil.copytree(lesson_store, isolated_home, dirs_exist_ok=True)

    def make(page: str) -> AppTest:
        at = page_app(page)
        no_exception(at)
        return at
    return make


@pytest.fixture
def page(request):
    """test_pages' ``app`` fixture (a fresh AppTest maker, no zoo, the digits), under a name
    that does not shadow the import."""
    return request.getfixturevalue("app")

