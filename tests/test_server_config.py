"""The server settings in .streamlit/config.toml, read back through Streamlit's own config
loader, so a misspelt option (which Streamlit ignores with only a log line) fails here."""

from __future__ import annotations

import pytest
from streamlit import config

from support import REPO


@pytest.fixture
def repo_config(monkeypatch):
    monkeypatch.chdir(REPO)                     # Streamlit reads ./.streamlit/config.toml
    config.get_config_options(force_reparse=True)
    yield
    monkeypatch.undo()
    config.get_config_options(force_reparse=True)


def test_no_full_garbage_collection_after_every_rerun(repo_config):
    # Streamlit's default collects all generations after each script run; with torch,
    # plotly and scikit-learn in the process that is the slow part of every rerun (timed
    # in bench/classroom.py, not asserted here)
    assert config.get_option("runner.postScriptGC") is False

