"""The Sequences page teaches the anomaly lesson again on time series, with the LSTM
autoencoder (Malhotra et al., "LSTM-based encoder-decoder for multi-sensor anomaly detection",
2016): a model trained on normal series only reconstructs an unusual one badly, so its mean
squared error per series is the anomaly score, and ROC AUC measures how well that score
separates the labelled test series, and the error at each step shows where the anomaly is.

The test set is generated with the anomaly kinds the user picks; the user's own CSV rows are
brought to the training series' scale and scored the same way. Its figures are
``aedemo.viz.sequences`` and the anomaly lesson's histogram and ROC curve.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch

from aedemo import data as datasets
from aedemo.metrics import reconstruct, roc
from aedemo.spec import ModelSpec
from aedemo.store import StoredModel
from aedemo.zoo import ZOO, entry_spec

UPLOAD_MAX_ROWS = 1000       # an LSTM reads step by step: keep an upload's scoring to seconds
UPLOAD_MAX_LENGTH = 2048
# 1000 series of 200 values, or 100 of 2000: an upload's scores (three float32 copies of it)
# stay under 3 MB in the shared memo.
UPLOAD_MAX_VALUES = 200_000


def default_lstm_spec() -> ModelSpec:
    """The zoo's LSTM, so asking for it joins the zoo's job if that one is already queued."""
    return entry_spec(next(e for e in ZOO if e.variant == "lstm"), None)


def usable_models(entries: list[StoredModel]) -> list[StoredModel]:
    """Stored sequence models trained on the generated series (the test set the page makes)."""
    return [m for m in entries if m.spec.kind == "sequence" and m.spec.dataset == datasets.SERIES]


@dataclass(frozen=True)
class SeriesScores:
    x: torch.Tensor                 # (N, T, 1) the test series
    recon: torch.Tensor             # (N, T, 1) their reconstructions
    errors: np.ndarray              # (N,) MSE per series: the anomaly score
    kinds: tuple[str, ...]          # "normal" or the anomaly kind, per series
    auc: float | None               # None when the test set has no anomalies
    fpr: np.ndarray | None
    tpr: np.ndarray | None

    @property
    def is_anomaly(self) -> np.ndarray:
        return np.array([k != "normal" for k in self.kinds])

    def examples(self) -> list[int]:
        """The first normal series and the first of each anomaly kind present."""
        firsts: dict[str, int] = {}
        for i, kind in enumerate(self.kinds):
            firsts.setdefault(kind, i)
        order = ["normal", *(k for k in datasets.ANOMALY_KINDS if k in firsts)]
        return [firsts[k] for k in order if k in firsts]


def score_test_series(model, anomaly_kinds: tuple[str, ...], seed: int = 0) -> SeriesScores:
    """Generate the test set with ``anomaly_kinds`` (the model's training series are seed 0's
    training split; its test split is never trained on) and score every series."""
    d = datasets.make_series(anomaly_kinds=tuple(anomaly_kinds), seed=seed)
    recon = reconstruct(model, d.x_test)
    errors = (recon - d.x_test).pow(2).flatten(1).mean(dim=1).numpy()
    is_anomaly = np.array([k != "normal" for k in d.kinds_test])
    auc = fpr = tpr = None
    if is_anomaly.any() and not is_anomaly.all():
        auc, fpr, tpr, _ = roc(errors, is_anomaly)
    return SeriesScores(x=d.x_test, recon=recon, errors=errors, kinds=d.kinds_test, auc=auc,
                        fpr=fpr, tpr=tpr)


def kinds_in_order(anomaly_kinds) -> tuple[str, ...]:
    """The chosen anomaly kinds in the data module's order, whatever order they were picked
    in: the same test set, and so the same cached scores, for the same choice."""
    return tuple(k for k in datasets.ANOMALY_KINDS if k in anomaly_kinds)


@functools.lru_cache(maxsize=1)
def training_scale() -> tuple[float, float]:
    """Mean and standard deviation of the generated training series, over all their values."""
    x = datasets.make_series().x_train
    return float(x.mean()), float(x.std())


def to_training_scale(x: torch.Tensor) -> torch.Tensor:
    """Each series (N, T, 1) shifted and stretched to the training series' mean and spread.
    Row by row, since a user's rows may be in any unit; a flat row is only shifted. This hides
    a series' overall level, so a whole row at a different level is not an anomaly here."""
    mean, std = training_scale()
    centred = x - x.mean(dim=1, keepdim=True)
    spread = x.std(dim=1, keepdim=True)
    scaled = torch.where(spread > 1e-8, centred / spread.clamp_min(1e-8) * std, centred)
    return scaled + mean


@dataclass(frozen=True)
class UploadScores:
    raw: torch.Tensor               # (N, T, 1) as uploaded
    x: torch.Tensor                 # (N, T, 1) at the training scale
    recon: torch.Tensor
    errors: np.ndarray              # (N,)


def parse_upload(raw: bytes) -> torch.Tensor:
    """A CSV of series, one per row -> (N, T, 1); DataError naming the row for bad input."""
    return datasets.parse_series_csv(raw, max_rows=UPLOAD_MAX_ROWS, max_length=UPLOAD_MAX_LENGTH,
                                     max_values=UPLOAD_MAX_VALUES)


def score_upload(model, raw: bytes) -> UploadScores:
    x_raw = parse_upload(raw)
    x = to_training_scale(x_raw)
    recon = reconstruct(model, x)
    errors = (recon - x).pow(2).flatten(1).mean(dim=1).numpy()
    return UploadScores(raw=x_raw, x=x, recon=recon, errors=errors)
