"""The Draw, Anomaly detection and Sequences pages, run as the real scripts by AppTest with an
empty store and with small models, and the computations behind them against references:
scikit-learn's metrics for the threshold report and the ROC, brute-force distances for the
nearest training digits, aedemo.metrics for the errors.

The canvas cannot be drawn on from AppTest (it sends nothing there), so a drawing is put in
st.session_state["aedemo_drawing"], which is where the page keeps the latest one and what it
shows until the canvas sends a stroke. File uploads go through AppTest's file_uploader.
"""

from __future__ import annotations

import io
import shutil

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support, roc_auc_score
from test_pages import no_exception

from aedemo import data as datasets
from aedemo import preprocess, ui
from aedemo.lessons import anomaly, draw, sequences
from aedemo.metrics import reconstruction_errors
from aedemo.models import build
from aedemo.spec import ModelSpec, Trained, train_spec
from aedemo.store import ModelStore
from aedemo.train import TrainConfig, fit

DRAW, ANOMALY, SEQUENCES = "pages/draw.py", "pages/anomaly.py", "pages/sequences.py"


def digit_png(ink: int = 0, paper: int = 255) -> bytes:
    """A '7' on paper, as a phone photo of one would be after cropping."""
    img = Image.new("RGB", (200, 200), (paper,) * 3)
    ImageDraw.Draw(img).line([(40, 40), (160, 40), (90, 180)], fill=(ink,) * 3, width=16)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def a_drawing() -> torch.Tensor:
    return preprocess.upload_to_mnist(digit_png())


IMAGE_MODELS = [("dense", {"latent_dim": 2}), ("dense", {"latent_dim": 16}),
                ("vae", {"latent_dim": 2}), ("denoising", {}), ("sparse", {}), ("conv", {})]


@pytest.fixture(scope="session")
def issue5_store(tmp_path_factory):
    """One small model per image variant (two dense ks for the bottleneck slider), a one-class
    detector of the digit 0, and a small LSTM. Not test_pages' issue5_store: its LSTM trains on
    all 2,000 series for a minute; this one is narrower and sees 256 of them, a few seconds,
    which is all a page test needs (the page, not the model's quality, is under test)."""
    home = tmp_path_factory.mktemp("issue5-store")
    store = ModelStore(home)
    for variant, hparams in IMAGE_MODELS:
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
def page(request):
    """test_pages' ``app`` fixture (a fresh AppTest maker, no zoo, the digits), under a name
    that does not shadow the import."""
    return request.getfixturevalue("app")


def texts(at, kind: str) -> str:
    return " ".join(e.value for e in getattr(at, kind))


# --- computations ----------------------------------------------------------------------------

@pytest.mark.parametrize("seed", [0, 1, 2])
def test_threshold_report_matches_scikit_learn(seed):
    rng = np.random.default_rng(seed)
    truth = rng.random(300) < 0.3
    scores = rng.normal(size=300) + truth * 1.2
    for threshold in (*np.quantile(scores, [0.1, 0.5, 0.7, 0.95]), scores.max() + 1):
        report = anomaly.threshold_report(scores, truth, threshold)
        flagged = scores >= threshold
        p, r, f, _ = precision_recall_fscore_support(truth, flagged, average="binary",
                                                     zero_division=0)
        assert report.precision == pytest.approx(p)
        assert report.recall == pytest.approx(r)
        assert report.f1 == pytest.approx(f)
        (tn, fp), (fn, tp) = confusion_matrix(truth, flagged, labels=[False, True])
        assert report.confusion.tolist() == [[tn, fp], [fn, tp]]
        assert report.false_alarm_rate == pytest.approx(fp / (fp + tn))


def test_most_anomalous_and_quantile_threshold():
    scores = np.array([0.1, 0.9, 0.5, 0.7, 0.3])
    assert anomaly.most_anomalous(scores, 2).tolist() == [1, 3]
    normal = np.array([True, False, True, False, True])
    assert anomaly.most_anomalous(scores, 2, among=normal).tolist() == [2, 4]
    assert anomaly.quantile_threshold(scores, 50) == pytest.approx(0.5)


def test_drawing_views_against_brute_force(issue5_store, digits):
    store = ModelStore(issue5_store)
    entries = [m for m in store.list()            # as svc.models(kind="image") lists them
               if m.ok and m.spec.kind == "image" and not m.spec.normal]
    chosen = draw.one_per_variant(entries)
    assert [m.spec.variant for m in chosen] == ["dense", "denoising", "sparse", "vae", "conv"]
    assert next(m for m in chosen if m.spec.variant == "dense").spec.latent_dim == 16
    assert list(draw.dense_sweep(entries)) == [2, 16]

    model, _ = store.load(next(m for m in chosen if m.spec.variant == "dense").id)
    views = draw.model_views(model, digits)
    x = a_drawing()
    where = draw.place(model, views, x, n=5)
    # nearest training digits: the same as measuring every distance
    train_codes = model.encode(digits.x_train).detach().numpy()
    code = model.encode(x).detach().numpy()
    brute = np.linalg.norm(train_codes - code, axis=1)
    np.testing.assert_allclose(where.distances, np.sort(brute)[:5], rtol=1e-4, atol=1e-5)
    # the error and its percentile, by aedemo.metrics over the test set
    assert where.error == pytest.approx(float(reconstruction_errors(model, x)[0]), rel=1e-5)
    test_errors = reconstruction_errors(model, digits.x_test).numpy()
    np.testing.assert_allclose(views.test_errors, test_errors, rtol=1e-5)
    assert where.percentile == pytest.approx(100 * (test_errors < where.error).mean())
    # the drawing on the map: PCA of its code, as the test codes are
    np.testing.assert_allclose(where.point, views.latent.pca.transform(code), rtol=1e-4)


def test_describe_percentile_in_plain_words():
    assert "Looks like the training digits" in draw.describe_percentile(40)
    assert "Unusual" in draw.describe_percentile(99)


@pytest.mark.parametrize("n, word", [(1, "1st"), (2, "2nd"), (3, "3rd"), (4, "4th"),
                                     (11, "11th"), (12, "12th"), (13, "13th"), (21, "21st"),
                                     (22, "22nd"), (93, "93rd"), (100, "100th"), (111, "111th")])
def test_ordinals(n, word):
    assert draw.ordinal(n) == word


def test_the_verdict_says_93rd_not_93th():
    verdict = draw.describe_percentile(92.6)
    assert "93rd percentile" in verdict and "95th" in verdict and "93th" not in verdict


def test_a_faint_copy_is_not_called_a_good_one():
    verdict = draw.describe_percentile(30, ink_kept=0.3)
    assert "faint" in verdict and "Looks like the training digits" not in verdict
    assert "Unusual" in draw.describe_percentile(99, ink_kept=0.3)


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


# --- the pages, empty store ------------------------------------------------------------------

def test_draw_page_empty_store_gives_a_hint(page):
    at = page(DRAW)
    no_exception(at)
    assert "Draw a digit on the black square" in texts(at, "info")   # blank canvas: a hint
    assert not at.error
    assert "No image model is ready yet" in texts(at, "info")


def test_anomaly_page_train_detector_queues_a_one_class_job(page, monkeypatch):
    monkeypatch.setenv("AEDEMO_WORKERS", "1")
    at = page(ANOMALY)
    no_exception(at)
    assert "No detector is stored yet" in texts(at, "info")
    at.multiselect(key="anomaly-digits").set_value([3, 5]).run()
    at.slider(key="anomaly-k").set_value(4)
    at.button(key="anomaly-train").click().run()
    no_exception(at)
    jobs = ui.service().jobs.jobs()
    assert len(jobs) == 1
    job = jobs[0]
    assert job.spec.normal == (3, 5) and job.spec.latent_dim == 4
    assert job.spec.variant == "dense" and job.spec.dataset == "digits"
    assert job.owner == at.session_state["aedemo_student"]
    assert job.spec.train.epochs > TrainConfig().epochs         # a tenth of the data: more epochs
    # trained in the background on those digits only; the page then shows the detector
    assert ui.service().jobs.wait(job.id, timeout=60).status == "done"
    at.run()
    no_exception(at)
    assert at.selectbox(key="anomaly-model").value == job.spec.key
    assert any(m.label == "AUC" for m in at.metric)


def test_sequences_page_offers_to_train_the_lstm(page):
    at = page(SEQUENCES)
    no_exception(at)
    assert "No LSTM model is ready yet" in texts(at, "info")
    at.button(key="seq-train").click().run()
    no_exception(at)
    (job,) = ui.service().jobs.jobs()
    assert job.spec == sequences.default_lstm_spec()
    ui.service().jobs.cancel(job.id, at.session_state["aedemo_student"])


# --- the pages, with models ------------------------------------------------------------------

def test_draw_page_with_a_drawing(page, issue5_store, isolated_home):
    shutil.copytree(issue5_store, isolated_home, dirs_exist_ok=True)
    at = page(DRAW)
    at.session_state["aedemo_drawing"] = a_drawing()
    at.run()
    no_exception(at)
    assert "Your last input" in texts(at, "caption")
    captions = [c.value for c in at.caption]
    for variant in ("dense k=16", "vae k=2", "denoising", "sparse", "conv"):
        assert any(variant in c for c in captions), (variant, captions)
    assert any(m.label == "Reconstruction error (MSE)" for m in at.metric)
    assert "the training digits" in texts(at, "markdown") or "Unusual" in texts(at, "markdown")
    assert sum("distance" in c for c in captions) == draw.NEAREST
    spec = at.get("plotly_chart")[0].proto.spec
    assert "your drawing" in spec
    at.select_slider(key="draw-k").set_value(2).run()
    no_exception(at)
    assert any("dense k=2 · MSE" in c.value for c in at.caption)


@pytest.mark.parametrize(("raw", "message"), [
    (b"", "empty"),
    (b"GIF89a not really", "not an image"),
    (b"\x00" * (preprocess.UPLOAD_MAX_BYTES + 1), "the limit is 5 MB"),
])
def test_draw_page_bad_uploads_give_an_error(page, raw, message):
    at = page(DRAW)
    at.radio(key="draw-source").set_value("Upload an image").run()
    at.file_uploader(key="draw-upload").set_value(("digit.png", raw, "image/png")).run()
    no_exception(at)
    assert message in texts(at, "error") and "digit.png" in texts(at, "error")
    assert "aedemo_drawing" not in at.session_state


def test_draw_page_good_upload_becomes_the_drawing(page):
    at = page(DRAW)
    at.radio(key="draw-source").set_value("Upload an image").run()
    at.file_uploader(key="draw-upload").set_value(("seven.png", digit_png(), "image/png")).run()
    no_exception(at)
    assert not at.error
    x = at.session_state["aedemo_drawing"]
    assert x.shape == (1, 1, 28, 28)
    np.testing.assert_allclose(x.numpy(), a_drawing().numpy())


def test_anomaly_page_with_a_detector_and_a_drawing(page, issue5_store, isolated_home, digits):
    shutil.copytree(issue5_store, isolated_home, dirs_exist_ok=True)
    at = page(ANOMALY)
    at.session_state["aedemo_drawing"] = a_drawing()
    at.run()
    no_exception(at)
    metrics = {m.label: m.value for m in at.metric}
    assert float(metrics["AUC"]) > 0.6
    hist = at.get("plotly_chart")[0].proto.spec
    assert "your drawing" in hist and "threshold" in hist
    assert "Your drawing" in texts(at, "markdown")
    zeros = round(100 * float((digits.y_test == 0).float().mean()))
    assert at.slider(key="anomaly-threshold").value == zeros  # as many flagged as anomalies
    at.slider(key="anomaly-threshold").set_value(50).run()   # a higher threshold flags fewer
    no_exception(at)
    after = {m.label: m.value for m in at.metric}
    assert float(after["Recall"]) <= float(metrics["Recall"])
    assert float(after["False alarms"].rstrip("%")) <= float(metrics["False alarms"].rstrip("%"))
    assert len(at.table) == 1


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
