"""The Anomaly detection page and its lesson, aedemo.lessons.anomaly: the threshold report against
scikit-learn, the label-free threshold against the split-conformal quantile, the base rate and the
per-class AUCs against scikit-learn, and the page run as the real script by AppTest."""

from __future__ import annotations

import dataclasses
import math
import shutil

import numpy as np
import pytest
import torch
from sklearn.metrics import (
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
    roc_auc_score,
)

from aedemo import ui
from aedemo.lessons import anomaly
from aedemo.metrics import reconstruction_errors
from aedemo.spec import ModelSpec, one_class_split, train_spec
from aedemo.store import ModelStore
from aedemo.train import TrainConfig
from aedemo.viz.anomaly import error_histogram
from page_support import (
    a_drawing,
    figure,
    no_exception,
    texts,
    traces,
    values,
)

ANOMALY = "pages/anomaly.py"


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


def test_most_anomalous():
    scores = np.array([0.1, 0.9, 0.5, 0.7, 0.3])
    assert anomaly.most_anomalous(scores, 2).tolist() == [1, 3]
    normal = np.array([True, False, True, False, True])
    assert anomaly.most_anomalous(scores, 2, among=normal).tolist() == [2, 4]


# --- the threshold, set without labels -------------------------------------------------------

@pytest.mark.parametrize("n", [1, 19, 40, 100, 1000])
@pytest.mark.parametrize("rate", [0.01, 0.05, 0.1, 0.25])
def test_the_threshold_is_the_split_conformal_quantile(n, rate):
    """Angelopoulos & Bates (2021), section 1: the ceil((n + 1)(1 - rate)) / n quantile of the
    calibration scores, the order statistic itself (NumPy's inverted CDF); the largest score
    when there are too few."""
    errors = np.random.default_rng(n).gamma(2.0, size=n)
    level = min(1.0, math.ceil((n + 1) * (1 - rate)) / n)
    assert anomaly.false_alarm_threshold(errors, rate) == np.quantile(errors, level,
                                                                      method="inverted_cdf")


def test_the_threshold_keeps_its_false_alarm_promise():
    """Set on 40 normal errors, it flags at most 5% of new normal items, on average over many
    draws (exactly 1 - 39/41 = 4.9% for continuous scores)."""
    rng = np.random.default_rng(0)
    rates = []
    for _ in range(2000):
        held_out, new = rng.lognormal(size=40), rng.lognormal(size=200)
        rates.append((new >= anomaly.false_alarm_threshold(held_out)).mean())
    assert np.mean(rates) == pytest.approx(1 - 39 / 41, abs=0.003)
    assert np.mean(rates) <= 0.05


def test_the_threshold_refuses_what_it_cannot_set():
    with pytest.raises(ValueError, match="some normal errors"):
        anomaly.false_alarm_threshold([])
    with pytest.raises(ValueError, match="between 0 and 1"):
        anomaly.false_alarm_threshold([1.0, 2.0], 1.5)


def test_the_flag_everything_baseline_is_scikit_learns():
    truth = np.arange(1000) >= 100                      # 90% anomalies, as with one normal digit
    everything = anomaly.flag_everything(truth)
    assert everything.precision == pytest.approx(0.9) and everything.recall == 1
    assert everything.f1 == pytest.approx(f1_score(truth, np.ones(1000, bool)))
    assert everything.f1 == pytest.approx(0.947, abs=5e-4)
    assert everything.false_alarm_rate == 1


def synthetic_scores(labels, scores, ink, normal=(8,)) -> anomaly.AnomalyScores:
    labels, scores, ink = np.asarray(labels), np.asarray(scores, float), np.asarray(ink, float)
    is_anomaly = ~np.isin(labels, normal)
    auc, fpr, tpr, thresholds = 0.0, None, None, None
    return anomaly.AnomalyScores(
        normal=normal, scores=scores, labels=labels, is_anomaly=is_anomaly, auc=auc, fpr=fpr,
        tpr=tpr, thresholds=thresholds, ink=ink,
        reference=anomaly.NormalReference(scores[~is_anomaly], True),
        per_class=anomaly.auc_per_class(scores, ink, labels, is_anomaly),
        ink_rho=anomaly.rank_correlation(scores, ink))


def test_auc_per_class_and_the_ink_confound():
    """Trained on 8s, the score grows with ink, so 1s (little ink) look more normal than 8s:
    the per-class AUCs are scikit-learn's on each class against the normal items, and the
    sentence says what the numbers say."""
    rng = np.random.default_rng(0)
    labels = np.repeat([8, 1, 2], 200)
    ink = np.where(labels == 1, 60, 110) + rng.normal(0, 10, 600)
    scores = 0.0004 * ink + np.where(labels == 2, 0.03, 0.0) + rng.normal(0, 0.005, 600)
    s = synthetic_scores(labels, scores, ink)
    by_label = {r.label: r for r in s.per_class}
    assert sorted(by_label) == [1, 2]
    for label, row in by_label.items():
        mask = (labels == 8) | (labels == label)
        assert row.auc == pytest.approx(roc_auc_score(labels[mask] == label, scores[mask]))
        assert row.ink_auc == pytest.approx(roc_auc_score(labels[mask] == label, ink[mask]))
        assert row.count == 200
    assert by_label[1].auc < 0.5 and by_label[2].auc > 0.9
    classes = tuple(str(d) for d in range(10))
    sentence = anomaly.ink_confound(s, classes)
    assert f"rank correlation of {s.ink_rho:.2f}" in sentence
    assert f"weakest class is 1, AUC {by_label[1].auc:.2f}" in sentence
    assert f"ink alone gives {by_label[1].ink_auc:.2f}" in sentence
    assert "below chance" in sentence and "less ink than the 8s" in sentence
    summary = anomaly.per_class_summary(s.per_class, classes)
    assert f"from {by_label[1].auc:.2f} (1) to {by_label[2].auc:.2f} (2)" in summary


def test_the_reference_is_held_out_normal_training_images_and_reads_no_test_label(
        lesson_store, digits):
    store = ModelStore(lesson_store)
    entry = next(m for m in store.list() if m.ok and m.spec.normal)
    assert entry.spec.holdout == pytest.approx(0.1)
    model, _ = store.load(entry.id)
    scores = anomaly.score_test_set(model, digits, entry.spec.normal, entry.spec.holdout)
    trained_on, held = one_class_split(digits.y_train, entry.spec.normal, entry.spec.holdout)
    assert len(held) == round(0.1 * (len(held) + len(trained_on))) and scores.reference.held_out
    np.testing.assert_allclose(scores.reference.errors,
                               reconstruction_errors(model, digits.x_train[held]).numpy())
    # the test set's labels shuffled: the anomalies change, the threshold does not
    shuffled = dataclasses.replace(
        digits, y_test=digits.y_test[torch.randperm(len(digits.y_test),
                                                    generator=torch.Generator().manual_seed(0))])
    again = anomaly.score_test_set(model, shuffled, entry.spec.normal, entry.spec.holdout)
    assert not np.array_equal(again.is_anomaly, scores.is_anomaly)
    assert anomaly.false_alarm_threshold(again.reference.errors) == (
        anomaly.false_alarm_threshold(scores.reference.errors))
    assert scores.base_rate == pytest.approx(float((digits.y_test != 0).float().mean()))


# --- the page --------------------------------------------------------------------------------

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
    assert job.spec.holdout == pytest.approx(0.1)            # images kept for the threshold
    assert job.owner == at.session_state["aedemo_student"]
    assert job.spec.train.epochs > TrainConfig().epochs         # a tenth of the data: more epochs
    # the job panel names it for people
    assert "**dense autoencoder, k = 4, normal: 3 and 5**" in [m.value for m in at.markdown]
    # trained in the background on those digits only; the page then shows the detector
    assert ui.service().jobs.wait(job.id, timeout=60).status == "done"
    at.run()
    no_exception(at)
    assert at.selectbox(key="anomaly-model").value == job.spec.key
    assert any(m.label == "AUC" for m in at.metric)
    shown = [texts(at, kind) for kind in ("markdown", "caption", "info")]
    assert not any("normal=" in t for t in shown + at.selectbox(key="anomaly-model").options)


def label_line(note: dict) -> int:
    """On which line of text from the plot's top a line's label sits: the blank lines before
    it (every label hangs from the plot's top edge)."""
    *blank, text = note["text"].split("<br>")
    assert not "".join(blank).strip() and text.strip()
    assert (note["y"], note["yref"], note["yanchor"], note.get("yshift", 0)) == (
        1, "y domain", "top", 0)
    return len(blank)


@pytest.mark.parametrize("drawing", [0.049, 0.0499, 0.05, 0.0501, 0.051])   # close by
def test_the_threshold_and_drawing_labels_never_overlap(drawing):
    """Two labels on one line of text overlap unless the one reading leftwards from its line
    starts at or left of the one reading rightwards from its own; labels on different lines
    never do. Whatever the font size: projector mode enlarges every chart's text."""
    errors = np.random.default_rng(0).gamma(2.0, 0.01, 500)
    fig = error_histogram(errors, threshold=0.05, marks={"your drawing": drawing}).to_dict()
    notes = fig["layout"]["annotations"]
    assert [n["text"].split("<br>")[-1] for n in notes] == ["threshold", "your drawing"]
    if label_line(notes[0]) == label_line(notes[1]):
        # xanchor "right": the label reads leftwards from its line
        left, right = sorted(notes, key=lambda n: n["xanchor"] == "left")
        assert (left["xanchor"], right["xanchor"]) == ("right", "left")
        assert left["x"] <= right["x"]


def threshold_line(fig: dict) -> float:
    (line,) = [s for s, a in zip(fig["layout"]["shapes"], fig["layout"]["annotations"])
               if a["text"] == "threshold"]
    return line["x0"]


def metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_anomaly_page_done_right(page, lesson_store, isolated_home, digits):
    shutil.copytree(lesson_store, isolated_home, dirs_exist_ok=True)
    store = ModelStore(isolated_home)
    entry = next(m for m in store.list() if m.ok and m.spec.normal)
    model, _ = store.load(entry.id)
    at = page(ANOMALY)
    at.session_state["aedemo_drawing"] = a_drawing()
    at.run()
    no_exception(at)

    # the threshold: 5% on the held-out normal images, recomputed here from the model (the
    # split-conformal quantile by NumPy, as the paper's code computes it)
    _, held = one_class_split(digits.y_train, (0,), 0.1)
    held_errors = reconstruction_errors(model, digits.x_train[held]).numpy()
    level = min(1.0, math.ceil((len(held) + 1) * 0.95) / len(held))   # 14 held out: the max
    expected = np.quantile(held_errors, level, method="inverted_cdf")
    hist = figure(at, 0)
    assert threshold_line(hist) == pytest.approx(expected, rel=1e-6)
    assert at.slider(key="anomaly-rate").value == 5
    assert f"The threshold, {expected:.4f}, comes from the {len(held)} held-out normal images" in (
        texts(at, "markdown"))
    assert "No test image and no label was used" in texts(at, "markdown")
    assert [h.value for h in at.header] == ["Train a detector", "How well it separates",
                                            "Anomaly detection done right",
                                            "The most anomalous test images"]
    assert "A threshold chosen without labels" in [h.value for h in at.subheader]

    # the base rate and the flag-everything baseline beside the detector's figures
    test_errors = reconstruction_errors(model, digits.x_test).numpy()
    truth = (digits.y_test != 0).numpy()
    base = truth.mean()
    shown = metrics(at)
    assert shown["Base rate"] == f"{base:.1%}"
    flagged = test_errors >= expected
    assert shown["F1"] == f"{f1_score(truth, flagged):.3f}"
    assert shown["False alarms"] == f"{flagged[~truth].mean():.1%}"
    comparison = at.table[0].value
    assert comparison.loc["flag everything (no model)", "F1"] == f"{2 * base / (1 + base):.3f}"
    assert comparison.loc["flag everything (no model)", "precision"] == f"{base:.3f}"
    assert f"scores precision {base:.3f}, recall 1 and F1 {2 * base / (1 + base):.3f}" in texts(
        at, "markdown")

    # AUC per anomalous class, and ink alone, as scikit-learn gives them
    per_class = figure(at, 2)
    detector, = traces(per_class, "detector (reconstruction error)")
    ink_bars, = traces(per_class, "ink alone")
    ink = digits.x_test.flatten(1).double().sum(1).numpy()        # exact: no float32 ties
    labels = digits.y_test.numpy()
    for i, label in enumerate(range(1, 10)):
        mask = (labels == 0) | (labels == label)
        assert values(detector["y"])[i] == pytest.approx(
            roc_auc_score(labels[mask] == label, test_errors[mask]), abs=1e-6)
        assert values(ink_bars["y"])[i] == pytest.approx(
            roc_auc_score(labels[mask] == label, ink[mask]), abs=1e-6)
    assert "Reconstruction error partly measures the amount of ink" in texts(at, "markdown")

    # the drawing's verdict at this threshold, and the galleries described for screen readers
    assert "your drawing" in at.get("plotly_chart")[0].proto.spec
    assert "Your drawing" in texts(at, "markdown")
    alts = [img.alt for image in at.get("image") for img in image.proto.imgs]
    assert len(alts) == 2 and alts[0].startswith("The 10 test images with the highest error")

    # a higher target false-alarm rate lowers the threshold: more caught, more false alarms
    at.slider(key="anomaly-rate").set_value(20).run()
    no_exception(at)
    after = metrics(at)
    assert threshold_line(figure(at, 0)) < expected
    assert float(after["Recall"]) >= float(shown["Recall"])
    assert float(after["False alarms"].rstrip("%")) >= float(shown["False alarms"].rstrip("%"))


def test_a_detector_without_held_out_images_says_so(page, isolated_home, digits):
    """Stored before detectors held images out: its threshold is set on the normal training
    images, and the page says plainly that it was trained on them."""
    spec = dataclasses.replace(ModelSpec.create("dense", {"latent_dim": 4}, dataset="digits",
                                                train=TrainConfig(epochs=2), normal=(0,)),
                               holdout=0.0)
    ModelStore(isolated_home).save(spec, trained := train_spec(spec))
    at = page(ANOMALY)
    no_exception(at)
    warning = texts(at, "warning")
    assert "no held-out normal images exist" in warning
    everything, _ = one_class_split(digits.y_train, (0,), 0.0)
    expected = anomaly.false_alarm_threshold(
        reconstruction_errors(trained.model, digits.x_train[everything]).numpy())
    assert f"{len(everything)} normal training images instead" in warning
    assert threshold_line(figure(at, 0)) == pytest.approx(expected, rel=1e-6)
    assert at.slider(key="anomaly-rate").label.endswith("on the normal training images (%)")
