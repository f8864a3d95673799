"""Anomaly detection by reconstruction error, with the one-class protocol of Ruff et al.,
"Deep One-Class Classification", ICML 2018: train on the normal class(es) only, score every
test image by how badly it is reconstructed, and measure ROC AUC with all other classes as
the anomalies."""

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


def score_test_set(model, dataset: str, normal: tuple[int, ...]) -> AnomalyScores:
    """Score every test image of ``dataset`` with a model trained on the ``normal`` classes."""
    d = datasets.load_images(dataset)
    scores = reconstruction_errors(model, d.x_test).numpy()
    labels = d.y_test.numpy()
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
