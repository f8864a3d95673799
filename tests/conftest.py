"""Shared fixtures. Every test gets its own empty model store and data cache, and nothing here
reaches the network: a download that is attempted fails as it does on the CI machines."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED_MNIST = REPO.parent / "shared" / "data" / "mnist"


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
