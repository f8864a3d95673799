"""The Sequences page and its lesson, aedemo.lessons.sequences: scores against references, uploads,
and the page run as the real script by AppTest."""

from __future__ import annotations

import math
import shutil

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from aedemo import data as datasets
from aedemo import ui
from aedemo.lessons import anomaly, sequences
from aedemo.metrics import reconstruction_errors
from aedemo.store import ModelStore
from page_support import (
    figure,
    no_exception,
    texts,
)

SEQUENCES = "pages/sequences.py"


def test_sequence_scores_against_references(lesson_store):
    store = ModelStore(lesson_store)
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


def test_uploaded_series_are_brought_to_the_training_scale(lesson_store):
    store = ModelStore(lesson_store)
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


def lstm(store_home):
    store = ModelStore(store_home)
    entry = sequences.usable_models([m for m in store.list() if m.ok])[0]
    return store.load(entry.id)[0]


def test_the_threshold_is_set_on_held_out_normal_series(lesson_store):
    model = lstm(lesson_store)
    reference = sequences.normal_reference(model)
    assert reference.held_out and len(reference.errors) == datasets.VALIDATION_SIZE
    np.testing.assert_allclose(
        reference.errors,
        reconstruction_errors(model, datasets.make_validation_series()).numpy(), rtol=1e-5)


def test_probes_are_scored_as_uploads_and_the_sentence_follows_them(lesson_store):
    model = lstm(lesson_store)
    probes = sequences.score_probes(model)
    names, raw = sequences.probe_series()
    assert probes.names == names and len(names) == 5
    csv = "\n".join(",".join(f"{v:.7f}" for v in row[:, 0]) for row in raw.numpy()).encode()
    np.testing.assert_allclose(probes.errors, sequences.score_upload(model, csv).errors,
                               rtol=1e-3, atol=1e-6)
    reference = sequences.normal_reference(model).errors
    threshold = anomaly.false_alarm_threshold(reference)
    sentence = sequences.probe_sentence(probes, reference, threshold)
    slow, fast = sequences.probe_cycles()
    assert slow == 2 and fast == 8          # inside the main wave's 1-3 cycles; beyond any wave
    verdict = "flagged" if probes.errors[2] >= threshold else "not flagged"
    share = anomaly.percentile_of(probes.errors[2], reference)
    assert (f"one of 8 cycles, however clean, scores {probes.errors[2]:.3f}, above {share:.1f}% "
            f"of the held-out normal series ({verdict})") in sentence


def threshold_line(fig: dict) -> float:
    (line,) = [s for s, a in zip(fig["layout"]["shapes"], fig["layout"]["annotations"])
               if a["text"] == "threshold"]
    return line["x0"]


def split_conformal(model, rate: float = 0.05) -> float:
    """The threshold recomputed here: the split-conformal quantile of the model's errors on the
    held-out normal series, by NumPy (Angelopoulos & Bates 2021)."""
    errors = reconstruction_errors(model, datasets.make_validation_series()).numpy()
    level = math.ceil((len(errors) + 1) * (1 - rate)) / len(errors)
    return float(np.quantile(errors, level, method="inverted_cdf"))


def spreadsheet(rows: int = 128) -> bytes:
    """Three series in columns as a spreadsheet set to decimal commas writes them."""
    t = np.linspace(0, 1, rows, endpoint=False)
    lines = ["slow;fast;walk"] + [
        ";".join(f"{v:.5f}".replace(".", ",")
                 for v in (np.sin(2 * np.pi * 2 * x), np.sin(2 * np.pi * 8 * x), 0.1 * i))
        for i, x in enumerate(t)]
    return "\n".join(lines).encode()


def test_sequences_page_with_the_lstm_and_an_upload(page, lesson_store, isolated_home):
    shutil.copytree(lesson_store, isolated_home, dirs_exist_ok=True)
    model = lstm(isolated_home)
    at = page(SEQUENCES)
    no_exception(at)
    # the threshold: 5% on the held-out normal series, never the test set or its labels
    expected = split_conformal(model)
    assert threshold_line(figure(at, 1)) == pytest.approx(expected, rel=1e-5)
    assert at.slider(key="seq-rate").value == 5
    assert "held-out normal series" in texts(at, "markdown")
    shown = {m.label: m.value for m in at.metric}
    assert shown["AUC"] and shown["Base rate"] == "30.0%"
    assert at.table[0].value.loc["flag everything (no model)", "F1"] == f"{0.6 / 1.3:.3f}"
    assert "Normal** here means what the model was trained on" in texts(at, "markdown")
    assert "A clean sine of 2 cycles scores" in texts(at, "markdown")

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
    assert "Read 2 series in rows, separated by ',', decimal points" in texts(at, "caption")


def test_a_spreadsheet_upload_is_read_and_each_series_judged(page, lesson_store, isolated_home):
    shutil.copytree(lesson_store, isolated_home, dirs_exist_ok=True)
    model = lstm(isolated_home)
    at = page(SEQUENCES)
    raw = spreadsheet()
    at.file_uploader(key="seq-upload").set_value(("mine.csv", raw, "text/csv")).run()
    no_exception(at)
    assert ("Read 3 series in columns, separated by ';', decimal commas, header row skipped (as "
            "detected: the first row names them).") in texts(at, "caption")
    (radio,) = at.radio
    assert radio.value == "columns"
    table = at.dataframe[0].value
    assert table["name"].tolist() == ["slow", "fast", "walk"]
    # each series judged at the page's threshold, from errors computed here
    mine = sequences.score_upload(model, raw)
    threshold = split_conformal(model)
    np.testing.assert_allclose(table["error"], mine.errors, rtol=1e-5)
    assert table["verdict"].tolist() == [
        "flagged" if e >= threshold else "not flagged" for e in mine.errors]
    flagged = int((mine.errors >= threshold).sum())
    assert f"**{flagged} of your 3 series**" in texts(at, "markdown")
    # read the other way round, 128 series of 3 values are too short: the error says so
    radio.set_value("rows").run()
    assert "Each series needs at least 8 values" in texts(at, "error")
