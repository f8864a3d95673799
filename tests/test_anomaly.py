"""The Anomaly detection page and its lesson, aedemo.lessons.anomaly: the threshold report against
scikit-learn, and the page run as the real script by AppTest."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

from aedemo import ui
from aedemo.lessons import anomaly
from aedemo.train import TrainConfig
from page_support import (
    a_drawing,
    no_exception,
    texts,
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


def test_most_anomalous_and_quantile_threshold():
    scores = np.array([0.1, 0.9, 0.5, 0.7, 0.3])
    assert anomaly.most_anomalous(scores, 2).tolist() == [1, 3]
    normal = np.array([True, False, True, False, True])
    assert anomaly.most_anomalous(scores, 2, among=normal).tolist() == [2, 4]
    assert anomaly.quantile_threshold(scores, 50) == pytest.approx(0.5)


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

