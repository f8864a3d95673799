"""Sequences: a seeded generator of noisy sine mixtures with labelled anomalies, or a CSV of
the user's own series (aedemo.data.series_csv), as float32 of shape (N, T, 1). Normal series
that no model trains on and no test set holds (``make_validation_series``) are where a sequence
detector's anomaly threshold is set.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from aedemo.data.errors import DataError
from aedemo.data.series_csv import parse_series_csv
from aedemo.data.takehome import TEST_FRACTION, sine_mixtures

SERIES = "series"
ANOMALY_KINDS = ("spike", "level-shift", "frequency-change", "flat-line", "noise-burst")
SERIES_LENGTH = 128


@dataclass(frozen=True)
class SeriesData:
    name: str
    x_train: torch.Tensor                  # (N, T, 1): normal series only
    x_test: torch.Tensor                   # (M, T, 1): normal and anomalous
    kinds_test: tuple[str, ...] = field(default=())   # "normal" or an anomaly kind, per test row
    notice: str | None = None

    kind = "sequence"

    @property
    def source(self) -> str:
        return self.name

    @property
    def y_test(self) -> torch.Tensor:
        """1 for an anomalous test series, 0 for a normal one."""
        return torch.tensor([k != "normal" for k in self.kinds_test], dtype=torch.int64)


# What a normal series is, the one thing the LSTM learns: a sine of MAIN_CYCLES cycles per window


def _inject(series: np.ndarray, kind: str, rng: np.random.Generator) -> np.ndarray:
    """Put one anomaly of ``kind`` into a normal series, in a random window of 15-30% of it."""
    s = series.copy()
    n = len(s)
    width = int(rng.integers(int(0.15 * n), int(0.3 * n)))
    start = int(rng.integers(0, n - width))
    window = slice(start, start + width)
    if kind == "spike":
        s[start + width // 2] += rng.choice([-1, 1]) * rng.uniform(2.5, 4)
    elif kind == "level-shift":
        s[start:] += rng.choice([-1, 1]) * rng.uniform(1.0, 1.5)
    elif kind == "frequency-change":
        t = np.arange(width)
        s[window] = np.sin(2 * np.pi * rng.uniform(12, 18) * t / n + rng.uniform(0, 6))
    elif kind == "flat-line":
        s[window] = s[start]
    elif kind == "noise-burst":
        s[window] += rng.normal(0, 0.8, width)
    else:
        raise ValueError(f"unknown anomaly kind {kind!r}; choose from {', '.join(ANOMALY_KINDS)}")
    return s


def make_series(n_train: int = 2000, n_test: int = 600, *, length: int = SERIES_LENGTH,
                anomaly_kinds: tuple[str, ...] = ANOMALY_KINDS, anomaly_fraction: float = 0.3,
                seed: int = 0) -> SeriesData:
    """Generated series: a normal training set and a test set in which ``anomaly_fraction`` of the
    series carry one anomaly each, the kinds taken in turn from ``anomaly_kinds``."""
    rng = np.random.default_rng(seed)
    train = sine_mixtures(n_train, length, rng)
    test = sine_mixtures(n_test, length, rng)
    n_bad = int(round(n_test * anomaly_fraction)) if anomaly_kinds else 0
    kinds = ["normal"] * n_test
    for i, row in enumerate(rng.choice(n_test, size=n_bad, replace=False)):
        kinds[row] = anomaly_kinds[i % len(anomaly_kinds)]
        test[row] = _inject(test[row], kinds[row], rng)
    as_tensor = lambda a: torch.tensor(a, dtype=torch.float32).unsqueeze(-1)   # noqa: E731
    return SeriesData(name=SERIES, x_train=as_tensor(train), x_test=as_tensor(test),
                      kinds_test=tuple(kinds))


# The held-out normal series come from a stream of their own, a child of the seed's (NumPy's
# SeedSequence spawn key): make_series draws nothing more or less than before, so the training
# and test series, and every model trained on them, stay exactly as they were, and no seed's
# training or test set shares a series with them.
VALIDATION_STREAM = 1
VALIDATION_SIZE = 1000


def make_validation_series(n: int = VALIDATION_SIZE, *, length: int = SERIES_LENGTH,
                           seed: int = 0) -> torch.Tensor:
    """(n, length, 1) normal series that no model trains on and no test set holds: the
    sequence detector's anomaly threshold is set on them, without a label."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(VALIDATION_STREAM,)))
    return torch.tensor(sine_mixtures(n, length, rng), dtype=torch.float32).unsqueeze(-1)


def load_series(name: str = SERIES, *, seed: int = 0) -> SeriesData:
    """``series`` (the generated set) or the path of a CSV of series (``read_series_csv``): a
    CSV is standardised with its training series' mean and spread and split 80/20, with no
    labels."""
    if name == SERIES:
        return make_series(seed=seed)
    path = Path(name).expanduser()
    if not path.is_file():
        raise DataError(f"unknown sequence dataset {name!r}; use {SERIES!r} or a CSV file path")
    x = parse_series_csv(path.read_bytes())
    if len(x) < 2:
        raise DataError(f"{path.name}: needs at least 2 series to hold some out for testing")
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    n_test = max(1, int(round(len(x) * TEST_FRACTION)))
    train, test = x[order[n_test:]], x[order[:n_test]]
    mean, std = train.mean(), train.std().clamp_min(1e-6)
    return SeriesData(name=str(path), x_train=(train - mean) / std, x_test=(test - mean) / std,
                      kinds_test=("unlabelled",) * len(test))

