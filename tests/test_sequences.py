"""The Sequences page and its lesson, aedemo.lessons.sequences: scores against references, uploads,
and the page run as the real script by AppTest."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from aedemo import data as datasets
from aedemo import ui
from aedemo.lessons import sequences
from aedemo.metrics import reconstruction_errors
from aedemo.store import ModelStore
from page_support import (
    no_exception,
    texts,
)

SEQUENCES = "pages/sequences.py"


def test_sequence_scores_against_references(issue5_store):
    store = ModelStore(issue5_store)
    entry = sequences.usable_models([m for m in store.list() if m.ok])[0]
    model, _ = store.load(entry.id)
    scores = sequences.score_test_series(model, ("spike", "level-shift"), seed=3)
    d = datasets.make_series(anomaly_kinds=("spike", "level-shift"), seed=3)
    np.testing.assert_allclose(scores.errors, reconstruction_errors(model, d.x_test).numpy(),
                               rtol=1e-4, atol=1e-7)
    assert set(scores.kinds) == {"normal", "spike", "level-shift"}
    assert scores.auc == pytest.approx(roc_auc_score(scores.is_anomaly, scores.errors))
    assert [scores.kinds[i] for i in scores.examples()] == ["normal", "spike", "level-shift"]
    assert sequences.score_test_series(model, (), seed=3).auc is None


def test_uploaded_series_are_brought_to_the_training_scale(issue5_store):
    store = ModelStore(issue5_store)
    model, _ = store.load(sequences.usable_models([m for m in store.list() if m.ok])[0].id)
    t = np.linspace(0, 4 * np.pi, 100)
    rows = [1000 + 50 * np.sin(t), -3 + 0.01 * np.cos(t), np.full(100, 7.0)]
    csv = "\n".join(",".join(f"{v:.6f}" for v in row) for row in rows).encode()
    mine = sequences.score_upload(model, csv)
    mean, std = sequences.training_scale()
    assert mine.x.shape == (3, 100, 1)
    np.testing.assert_allclose(mine.x[:2].mean(dim=1).flatten(), [mean, mean], atol=1e-4)
    np.testing.assert_allclose(mine.x[:2].std(dim=1).flatten(), [std, std], rtol=1e-3)
    np.testing.assert_allclose(mine.x[2].flatten(), np.full(100, mean), atol=1e-5)  # flat row
    np.testing.assert_allclose(mine.errors, reconstruction_errors(model, mine.x).numpy(),
                               rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize(("raw", "message"), [
    (b"", "empty"),
    (b"1,2,3,4,5,6,7,8\n1,2,x,4,5,6,7,8\n", "Row 2, column 3"),
    (b"1,2,3,4,5,6,7,8\n1,2,3\n", "Row 2 has 3 values"),
    (b"1,2,3\n", "at least 8 values"),
    ("\n".join(["1,2,3,4,5,6,7,8"] * (sequences.UPLOAD_MAX_ROWS + 1)).encode(), "limit is 1000"),
    (",".join(["1"] * (sequences.UPLOAD_MAX_LENGTH + 1)).encode(), "at most 2048 values"),
])
def test_bad_series_uploads_name_the_problem(raw, message):
    with pytest.raises(datasets.DataError, match=message):
        sequences.parse_upload(raw)


def test_sequences_page_offers_to_train_the_lstm(page):
    at = page(SEQUENCES)
    no_exception(at)
    assert "No LSTM model is ready yet" in texts(at, "info")
    at.button(key="seq-train").click().run()
    no_exception(at)
    (job,) = ui.service().jobs.jobs()
    assert job.spec == sequences.default_lstm_spec()
    ui.service().jobs.cancel(job.id, at.session_state["aedemo_student"])


def test_sequences_page_with_the_lstm_and_an_upload(page, issue5_store, isolated_home):
    shutil.copytree(issue5_store, isolated_home, dirs_exist_ok=True)
    at = page(SEQUENCES)
    no_exception(at)
    assert any(m.label == "AUC" for m in at.metric)
    at.multiselect(key="seq-kinds").set_value(["spike"]).run()
    no_exception(at)
    assert "spike" in at.get("plotly_chart")[0].proto.spec
    at.multiselect(key="seq-kinds").set_value([]).run()
    assert "at least one kind" in texts(at, "info")
    uploader = at.file_uploader(key="seq-upload")
    uploader.set_value(("mine.csv", b"1,2,3,4,5,6,7,8\n1,2,3,4,5,x,7,8\n", "text/csv")).run()
    assert "Row 2, column 6" in texts(at, "error")
    t = np.linspace(0, 6, 128)
    good = "\n".join(",".join(f"{v:.4f}" for v in np.sin(t * f)) for f in (2, 3)).encode()
    at.file_uploader(key="seq-upload").set_value(("mine.csv", good, "text/csv")).run()
    no_exception(at)
    assert not at.error
    assert len(at.dataframe) == 1 and len(at.dataframe[0].value) == 2

