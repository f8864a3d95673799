"""The Anomaly detection page teaches that reconstruction error is an anomaly score: a model
trained on some digits only rebuilds the others badly. The one-class protocol of Ruff et al.,
"Deep One-Class Classification", ICML 2018: train on the normal class(es) only, score every
test image by how badly it is reconstructed, and measure ROC AUC with all other classes as
the anomalies. Its figures are ``aedemo.viz.anomaly`` (the Sequences page draws with them too).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from aedemo import data as datasets
from aedemo.metrics import reconstruction_errors, roc


@dataclass(frozen=True)
class AnomalyScores:
    normal: tuple[int, ...]      # the classes trained on
    scores: np.ndarray           # (N,) reconstruction MSE per test image
    labels: np.ndarray           # (N,) the test images' classes
    is_anomaly: np.ndarray       # (N,) bool: class not in ``normal``
    auc: float
    fpr: np.ndarray
    tpr: np.ndarray
    thresholds: np.ndarray


def score_test_set(model, data: datasets.ImageData, normal: tuple[int, ...]) -> AnomalyScores:
    """Score every test image of ``data`` with a model trained on the ``normal`` classes."""
    scores = reconstruction_errors(model, data.x_test).numpy()
    labels = data.y_test.numpy()
    is_anomaly = ~np.isin(labels, np.asarray(normal))
    if is_anomaly.all() or not is_anomaly.any():
        raise ValueError("the test set needs both normal and anomalous images for an AUC")
    auc, fpr, tpr, thresholds = roc(scores, is_anomaly)
    return AnomalyScores(normal=tuple(normal), scores=scores, labels=labels,
                         is_anomaly=is_anomaly, auc=auc, fpr=fpr, tpr=tpr, thresholds=thresholds)


def percentile_of(value: float, reference: np.ndarray | torch.Tensor) -> float:
    """Share of ``reference`` errors below ``value``, in percent: how unusual a new input is."""
    ref = np.asarray(reference)
    return float((ref < value).mean() * 100.0) if ref.size else float("nan")


@dataclass(frozen=True)
class ThresholdReport:
    """What flagging every score at or above ``threshold`` as anomalous gets right and wrong."""

    threshold: float
    precision: float          # of the flagged, the share that are anomalies
    recall: float             # of the anomalies, the share flagged (the true positive rate)
    f1: float
    false_alarm_rate: float   # of the normal ones, the share flagged (the false positive rate)
    confusion: np.ndarray     # (2, 2): rows actual normal / anomalous, columns flagged no / yes


def threshold_report(scores, is_anomaly, threshold: float) -> ThresholdReport:
    """Precision, recall, F1 and the confusion matrix at one threshold. ``>=`` as in
    scikit-learn's roc_curve, so the report matches the ROC curve's point at that threshold;
    a ratio with nothing to divide by is 0, as scikit-learn's ``zero_division=0``."""
    from sklearn.metrics import confusion_matrix

    truth = np.asarray(is_anomaly).astype(bool)
    flagged = np.asarray(scores) >= threshold
    confusion = confusion_matrix(truth, flagged, labels=[False, True])
    (tn, fp), (fn, tp) = confusion
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    false_alarms = fp / (fp + tn) if fp + tn else 0.0
    return ThresholdReport(threshold=float(threshold), precision=float(precision),
                           recall=float(recall), f1=float(f1),
                           false_alarm_rate=float(false_alarms), confusion=confusion)


def quantile_threshold(scores, percentile: float) -> float:
    """The score below which ``percentile`` percent of ``scores`` lie: a threshold chosen by
    how many to flag, without looking at any label."""
    return float(np.percentile(np.asarray(scores), percentile))


def most_anomalous(scores, n: int = 10, among=None) -> np.ndarray:
    """Indices of the ``n`` highest scores, highest first, optionally only where ``among``
    (a bool mask) holds: the worst-reconstructed normal images, say."""
    scores = np.asarray(scores)
    candidates = np.arange(len(scores)) if among is None else np.nonzero(np.asarray(among))[0]
    order = np.argsort(-scores[candidates], kind="stable")
    return candidates[order[:n]]


@torch.no_grad()
def error_of(model, x: torch.Tensor) -> float:
    """One input's reconstruction MSE (x is (1, ...)): a drawing scored like the test set."""
    return float(reconstruction_errors(model, x)[0])


@torch.no_grad()
def gallery(model, data: datasets.ImageData, indices) -> torch.Tensor:
    """Test images of ``data`` at ``indices`` (n of them) followed by their reconstructions:
    (2n, 1, 28, 28), for a two-row strip."""
    model.eval()
    originals = data.x_test[torch.as_tensor(np.asarray(indices))]
    return torch.cat([originals, model.reconstruct(originals).cpu()])


def count_of_classes(labels: torch.Tensor, classes) -> int:
    """How many of ``labels`` belong to ``classes``: the size of a one-class training set."""
    return int(torch.isin(labels, torch.as_tensor(list(classes), dtype=labels.dtype)).sum())
