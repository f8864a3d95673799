"""The Sequences page teaches the anomaly lesson again on time series, with the LSTM
autoencoder (Malhotra et al., "LSTM-based encoder-decoder for multi-sensor anomaly detection",
2016): a model trained on normal series only reconstructs an unusual one badly, so its mean
squared error per series is the anomaly score, and ROC AUC measures how well that score
separates the labelled test series, and the error at each step shows where the anomaly is.

The test set is generated with the anomaly kinds the user picks; the user's own CSV series are
brought to the training series' scale and scored the same way. The threshold is set as on the
Anomaly page (``anomaly.false_alarm_threshold``), on normal series that no model trained on and
no test set holds (``data.make_validation_series``), never from the test set's labels. "Normal"
means only what the model was trained on, which a few probe series show (``score_probes``): a
clean sine at a frequency it never saw is an anomaly to it. Its figures are
``aedemo.viz.sequences`` and the anomaly lesson's histogram and ROC curve.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch

from aedemo import data as datasets
from aedemo.lessons.anomaly import NormalReference, percentile_of
from aedemo.metrics import reconstruct, reconstruction_errors, roc
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


def normal_reference(model) -> NormalReference:
    """The model's errors on the held-out normal series: what its threshold is set on."""
    return NormalReference(reconstruction_errors(model, datasets.make_validation_series()).numpy(),
                           held_out=True)


def normal_description() -> str:
    """What "normal" means to the model, in words, from the generator's own settings."""
    main, second, amp = datasets.MAIN_CYCLES, datasets.SECOND_CYCLES, datasets.SECOND_AMPLITUDE
    return (f"**Normal** here means what the model was trained on, and nothing more: a sine of "
            f"{main[0]:g} to {main[1]:g} cycles per {datasets.SERIES_LENGTH} steps, plus a "
            f"weaker one (amplitude {amp[0]:g} to {amp[1]:g} against 1) of {second[0]:g} to "
            f"{second[1]:g} cycles, at random phases, with a little noise (standard deviation "
            f"{datasets.NOISE_SD:g}). The score says how unlike those series a series is, not "
            f"whether it is faulty or interesting: the model rebuilds well only the kind of "
            f"series it has seen.")


@dataclass(frozen=True)
class UploadScores:
    raw: torch.Tensor               # (N, T, 1) as uploaded
    x: torch.Tensor                 # (N, T, 1) at the training scale
    recon: torch.Tensor
    errors: np.ndarray              # (N,)
    table: datasets.SeriesTable     # how the file was read, and where each series was


def sniff_upload(raw: bytes) -> datasets.CsvLayout:
    """How an uploaded CSV is laid out (separator, decimal mark, header, rows or columns)."""
    return datasets.sniff_series_csv(raw, max_rows=UPLOAD_MAX_ROWS, max_length=UPLOAD_MAX_LENGTH)


def parse_upload(raw: bytes, orientation: str | None = None) -> datasets.SeriesTable:
    """A CSV of series, one per row or per column (detected unless ``orientation`` is given)
    -> its SeriesTable; DataError naming the row for bad input."""
    return datasets.read_series_csv(raw, max_rows=UPLOAD_MAX_ROWS, max_length=UPLOAD_MAX_LENGTH,
                                    max_values=UPLOAD_MAX_VALUES, orientation=orientation)


def _scored(model, x_raw: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    x = to_training_scale(x_raw)
    recon = reconstruct(model, x)
    return x, recon, (recon - x).pow(2).flatten(1).mean(dim=1).numpy()


def score_upload(model, raw: bytes, orientation: str | None = None) -> UploadScores:
    table = parse_upload(raw, orientation)
    x, recon, errors = _scored(model, table.x)
    return UploadScores(raw=table.x, x=x, recon=recon, errors=errors, table=table)


# --- what "normal" means: a few series scored as an upload would be ---------------------------

PROBE_SPIKE = 3.0          # as tall as the test set's spikes (2.5 to 4)


def probe_cycles() -> tuple[float, float]:
    """The probes' two sines: the middle of the training's main frequencies, and one faster
    than any wave in training."""
    return sum(datasets.MAIN_CYCLES) / 2, datasets.SECOND_CYCLES[1] + 2


def probe_series(length: int = datasets.SERIES_LENGTH) -> tuple[tuple[str, ...], torch.Tensor]:
    """Names and (5, length, 1) series that a student might upload to try the model: the two
    clean sines of ``probe_cycles``, each alone and with a spike in the middle, and a seeded
    random walk."""
    t = np.linspace(0, 1, length, endpoint=False)
    rows, names = [], []
    for cycles in probe_cycles():
        wave = np.sin(2 * np.pi * cycles * t)
        spiked = wave.copy()
        spiked[length // 2] += PROBE_SPIKE
        rows += [wave, spiked]
        names += [f"clean sine, {cycles:g} cycles", f"clean sine, {cycles:g} cycles, one spike"]
    rows.append(np.cumsum(np.random.default_rng(0).normal(size=length)))
    names.append("random walk")
    return tuple(names), torch.tensor(np.stack(rows), dtype=torch.float32).unsqueeze(-1)


@dataclass(frozen=True)
class ProbeScores:
    names: tuple[str, ...]
    x: torch.Tensor                 # (P, T, 1) at the training scale
    recon: torch.Tensor
    errors: np.ndarray              # (P,)


def score_probes(model) -> ProbeScores:
    """The probe series scored exactly as an upload is (brought to the training scale)."""
    names, raw = probe_series()
    x, recon, errors = _scored(model, raw)
    return ProbeScores(names=names, x=x, recon=recon, errors=errors)


def verdict(error: float, threshold: float) -> str:
    return "flagged" if error >= threshold else "not flagged"


def probe_sentence(probes: ProbeScores, reference: np.ndarray, threshold: float) -> str:
    """What the probes show, from their scores: which clean sine looks normal, what a spike
    does to each, and the random walk's verdict."""
    slow, slow_spike, fast, fast_spike, walk = (float(e) for e in probes.errors)
    slow_cycles, fast_cycles = probe_cycles()

    def scored(error: float) -> str:
        return (f"{error:.3f}, above {percentile_of(error, reference):.1f}% of the held-out "
                f"normal series ({verdict(error, threshold)})")

    def spike(before: float, after: float, whose: str) -> str:
        way = "raises" if after > before else "lowers"
        return (f"{way} the {whose} sine's error from {before:.3f} to {after:.3f} "
                f"({verdict(after, threshold)})")

    return (f"A clean sine of {slow_cycles:g} cycles scores {scored(slow)}; one of "
            f"{fast_cycles:g} cycles, however clean, scores {scored(fast)}. A spike in the "
            f"middle {spike(slow, slow_spike, 'slow')} and {spike(fast, fast_spike, 'fast')}. "
            f"The random walk scores {scored(walk)}.")


def series_summary(titles, errors) -> str:
    """What a chart of series and their reconstructions shows, for a screen reader."""
    listed = "; ".join(f"{t}: mean squared error {e:.3f}" for t, e in zip(titles, errors))
    return (f"{len(titles)} series, each drawn with its reconstruction and the squared error at "
            f"every step beneath. {listed}.")


def upload_summary(labels, errors, threshold: float) -> str:
    """The uploaded series' verdicts in words, for a screen reader."""
    flagged = [lab for lab, e in zip(labels, errors) if e >= threshold]
    return (f"{len(flagged)} of {len(labels)} uploaded series score at or above the threshold "
            f"{threshold:.4f} and are flagged" + (f": {', '.join(flagged[:20])}" if flagged else "")
            + f". Their errors range from {min(errors):.3f} to {max(errors):.3f}.")


def by_kind(scores: SeriesScores, threshold: float) -> str:
    """The median error of each kind and the share of each flagged at ``threshold``."""
    kinds = np.array(scores.kinds)
    parts = []
    for kind in ("normal", *datasets.ANOMALY_KINDS):
        mask = kinds == kind
        if mask.any():
            parts.append(f"{kind}: median {np.median(scores.errors[mask]):.3f}, "
                         f"{(scores.errors[mask] >= threshold).mean():.0%} flagged")
    return "By kind: " + "; ".join(parts) + "."
