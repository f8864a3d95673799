"""The Anomaly detection page teaches that reconstruction error is an anomaly score: a model
trained on some digits only rebuilds the others badly. The one-class protocol of Ruff et al.,
"Deep One-Class Classification", ICML 2018: train on the normal class(es) only, score every
test image by how badly it is reconstructed, and measure ROC AUC with all other classes as
the anomalies. Its figures are ``aedemo.viz.anomaly`` (the Sequences page draws with them too).

Done right, as a practitioner must: the threshold is chosen on held-out **normal** images only
at a stated false-alarm rate (``false_alarm_threshold``), never from the test set or its labels;
precision and F1 are read against the base rate and the flag-everything baseline
(``flag_everything``), which scores F1 0.95 with no model when nine test images in ten are
anomalies; and the AUC of each anomalous class is shown beside that of the image's ink alone,
because reconstruction error grows with the amount of ink (``auc_per_class``,
``ink_confound``). The Sequences page and the CLI use the same functions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from aedemo import data as datasets
from aedemo.metrics import ink, reconstruction_errors, roc
from aedemo.spec import one_class_split

# The false-alarm rate the default threshold is set for: 5% of the held-out normal items score
# above it. A stated rate, chosen before looking at any anomaly, as in practice.
FALSE_ALARM_RATE = 0.05


@dataclass(frozen=True)
class NormalReference:
    """The normal images a threshold is set on, and their reconstruction errors."""

    errors: np.ndarray     # (M,) reconstruction MSE of each
    held_out: bool         # True: held out of training; False: the normal training images


@dataclass(frozen=True)
class ClassAUC:
    """One anomalous class against the normal test images."""

    label: int
    count: int           # test images of the class
    auc: float           # the detector's reconstruction error as the score
    ink_auc: float       # the image's ink alone as the score


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
    ink: np.ndarray              # (N,) each test image's ink: its mean grey level
    reference: NormalReference   # the normal images the threshold is set on
    per_class: tuple[ClassAUC, ...]   # each anomalous class against the normal test images
    ink_rho: float               # Spearman's rank correlation of the scores with the ink

    @property
    def base_rate(self) -> float:
        """The share of anomalies in the test set."""
        return float(self.is_anomaly.mean())


def normal_reference(model, data: datasets.ImageData, normal: tuple[int, ...],
                     holdout: float) -> NormalReference:
    """The reconstruction errors of the normal training images the detector never trained on
    (``spec.one_class_split``). A detector stored before detectors held images out has none:
    then its normal training images, which it was trained on, and ``held_out`` says so."""
    _, held = one_class_split(data.y_train, tuple(normal), holdout)
    if len(held):
        return NormalReference(reconstruction_errors(model, data.x_train[held]).numpy(), True)
    trained_on, _ = one_class_split(data.y_train, tuple(normal), 0.0)
    return NormalReference(reconstruction_errors(model, data.x_train[trained_on]).numpy(), False)


def score_test_set(model, data: datasets.ImageData, normal: tuple[int, ...],
                   holdout: float = 0.0) -> AnomalyScores:
    """Score every test image of ``data`` with a model trained on the ``normal`` classes, and
    the normal images its threshold is set on (``holdout``: the spec's held-out share)."""
    scores = reconstruction_errors(model, data.x_test).numpy()
    labels = data.y_test.numpy()
    is_anomaly = ~np.isin(labels, np.asarray(normal))
    if is_anomaly.all() or not is_anomaly.any():
        raise ValueError("the test set needs both normal and anomalous images for an AUC")
    auc, fpr, tpr, thresholds = roc(scores, is_anomaly)
    # the images' own ink, as a score of its own (an AUC is the same for any scale of it)
    amount = ink(data.x_test)
    return AnomalyScores(normal=tuple(normal), scores=scores, labels=labels,
                         is_anomaly=is_anomaly, auc=auc, fpr=fpr, tpr=tpr, thresholds=thresholds,
                         ink=amount, reference=normal_reference(model, data, normal, holdout),
                         per_class=auc_per_class(scores, amount, labels, is_anomaly),
                         ink_rho=rank_correlation(scores, amount))


def percentile_of(value: float, reference: np.ndarray | torch.Tensor) -> float:
    """Share of ``reference`` errors below ``value``, in percent: how unusual a new input is."""
    ref = np.asarray(reference)
    return float((ref < value).mean() * 100.0) if ref.size else float("nan")


def conformal_rank(n: int, rate: float) -> int:
    """The rank (1 = smallest) of the normal error that ``false_alarm_threshold`` takes among
    ``n``: ceil((n + 1)(1 - rate)), at most n."""
    return min(n, math.ceil((n + 1) * (1.0 - rate) - 1e-9))


def false_alarm_threshold(normal_errors, rate: float = FALSE_ALARM_RATE) -> float:
    """The anomaly threshold set on normal items only, held out of training: no label and no
    test item is used. It is the split-conformal quantile (Vovk et al. 2005; Angelopoulos &
    Bates, "A Gentle Introduction to Conformal Prediction", 2021, section 1): the
    ceil((n + 1)(1 - rate))-th smallest of the n normal errors, so a new normal item scores at
    or above it with a chance of at most ``rate`` (the items exchangeable, the errors without
    ties). Below rate 1 / (n + 1) no such error exists among n; the largest is taken, and
    then the chance is 1 / (n + 1). The one threshold rule of the Anomaly and Sequences pages
    and the CLI."""
    errors = np.sort(np.asarray(normal_errors, dtype=float))
    if errors.size == 0:
        raise ValueError("a threshold needs some normal errors to be set on")
    if not 0.0 < rate < 1.0:
        raise ValueError(f"the false-alarm rate must be between 0 and 1, not {rate}")
    return float(errors[conformal_rank(errors.size, rate) - 1])


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


def flag_everything(is_anomaly) -> ThresholdReport:
    """The baseline with no model: every item flagged. Its precision is the base rate, its
    recall 1, its F1 2b / (1 + b); a detector's precision and F1 mean something only above it."""
    truth = np.asarray(is_anomaly).astype(bool)
    return threshold_report(np.zeros(len(truth)), truth, -np.inf)


def comparison_table(report: ThresholdReport, everything: ThresholdReport):
    """The detector at its threshold beside the flag-everything baseline, as a table."""
    import pandas as pd

    rows = {"this detector, at the threshold": report, "flag everything (no model)": everything}
    return pd.DataFrame({"precision": [f"{r.precision:.3f}" for r in rows.values()],
                         "recall": [f"{r.recall:.3f}" for r in rows.values()],
                         "F1": [f"{r.f1:.3f}" for r in rows.values()],
                         "false alarms": [f"{r.false_alarm_rate:.1%}" for r in rows.values()]},
                        index=pd.Index(list(rows), name="flagged by"))


def ordinal(n: int) -> str:
    """1st, 2nd, 3rd, 4th, ..., 11th, 12th, 13th, ..., 21st, 22nd, 93rd."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def threshold_sentence(threshold: float, rate: float, reference: NormalReference,
                       what: str = "images", one: str = "image") -> str:
    """Where the threshold comes from, in words, with its numbers (``what`` the items, ``one``
    the word for one of them)."""
    n = len(reference.errors)
    k = conformal_rank(n, rate)
    at_or_above = int((reference.errors >= threshold).sum())
    promise = (f"a new normal {one} reaches it with a chance of at most {rate:.0%}"
               if (n + 1) * (1 - rate) <= n else
               f"{n:,} are too few to promise {rate:.0%}: a new normal {one} reaches their "
               f"largest error with a chance of 1 in {n + 1}")
    if reference.held_out:
        return (f"The threshold, {threshold:.4f}, comes from the {n:,} held-out normal {what} "
                f"alone, normal {what} that no model trained on: it is the {ordinal(k)} "
                f"smallest of their errors, so {promise} (the split-conformal rule; "
                f"{at_or_above} of the {n:,} are at or above it). No test {one} and no label "
                f"was used to choose it.")
    return (f"This detector was stored before detectors kept normal {what} out of training, so "
            f"no held-out normal {what} exist. The threshold, {threshold:.4f}, is set on its "
            f"{n:,} normal training {what} instead (the {ordinal(k)} smallest of their "
            f"errors), which it was trained on: new normal {what} tend to score higher than "
            f"those it learnt, so expect more false alarms than {rate:.0%}. Retrain it to set "
            f"the threshold on held-out {what}.")


def outcome_sentence(report: ThresholdReport, rate: float, what: str = "images") -> str:
    """What the threshold does on the test set, where its labels may at last be used."""
    return (f"On the test set it flags {report.false_alarm_rate:.1%} of the normal {what} (the "
            f"target was {rate:.0%}) and {report.recall:.1%} of the anomalies.")


def base_rate_sentence(report: ThresholdReport, everything: ThresholdReport,
                       what: str = "images", one: str = "image") -> str:
    """The base rate and the flag-everything baseline, against the detector's F1."""
    base = everything.precision
    verdict = ("above" if report.f1 > everything.f1 else
               "no better than" if report.f1 == everything.f1 else "below")
    return (f"{base:.1%} of the test {what} are anomalies: that is the base rate. Flagging "
            f"every test {one}, with no model at all, scores precision "
            f"{everything.precision:.3f}, recall 1 and F1 {everything.f1:.3f}; this detector's "
            f"F1, {report.f1:.3f}, is "
            f"{verdict} that. AUC does not depend on the base rate: flagging everything (or "
            f"guessing) scores 0.5.")


def auc_per_class(scores, ink, labels, is_anomaly) -> tuple[ClassAUC, ...]:
    """For each anomalous class, the AUC of the detector's ``scores`` and of ``ink`` alone,
    each separating that class from the normal items."""
    from sklearn.metrics import roc_auc_score

    scores, ink, labels = np.asarray(scores), np.asarray(ink), np.asarray(labels)
    is_anomaly = np.asarray(is_anomaly).astype(bool)
    rows = []
    for label in np.unique(labels[is_anomaly]):
        mask = ~is_anomaly | (labels == label)
        truth = labels[mask] == label
        rows.append(ClassAUC(label=int(label), count=int(truth.sum()),
                             auc=float(roc_auc_score(truth, scores[mask])),
                             ink_auc=float(roc_auc_score(truth, ink[mask]))))
    return tuple(rows)


def rank_correlation(a, b) -> float:
    """Spearman's rank correlation of ``a`` and ``b``."""
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic)


def ink_confound(scores: AnomalyScores, classes: tuple[str, ...]) -> str:
    """The confound in one sentence, from the numbers: how much error follows ink, and how the
    detector fares on its weakest class, beside what ink alone gives there."""
    normal = " and ".join(f"{classes[c]}s" for c in scores.normal)
    weakest = min(scores.per_class, key=lambda r: r.auc)
    name = classes[weakest.label]
    text = (f"Reconstruction error partly measures the amount of ink: over the test images the "
            f"two have a rank correlation of {scores.ink_rho:.2f}, so an image with "
            f"less ink than the normal {normal} can look more normal than it is. The "
            f"detector's weakest class is {name}, AUC {weakest.auc:.2f}, where ink alone gives "
            f"{weakest.ink_auc:.2f}")
    if weakest.ink_auc < 0.5:
        text += f" (a {name} usually has less ink than the {normal})"
    if weakest.auc < 0.5:
        text += (f"; that is below chance: the detector rates most {name}s as more normal "
                 f"than the {normal} it was trained on")
    return text + "."


def per_class_summary(per_class: tuple[ClassAUC, ...], classes: tuple[str, ...]) -> str:
    """What the per-class chart shows, for a screen reader."""
    low, high = min(per_class, key=lambda r: r.auc), max(per_class, key=lambda r: r.auc)
    ink_low = min(per_class, key=lambda r: r.ink_auc)
    ink_high = max(per_class, key=lambda r: r.ink_auc)
    return (f"AUC per anomalous class. The detector ranges from {low.auc:.2f} "
            f"({classes[low.label]}) to {high.auc:.2f} ({classes[high.label]}); ink alone from "
            f"{ink_low.ink_auc:.2f} ({classes[ink_low.label]}) to {ink_high.ink_auc:.2f} "
            f"({classes[ink_high.label]}). 0.5 is chance.")


def histogram_summary(scores, is_anomaly, threshold: float | None, what: str = "images") -> str:
    """What the error histogram shows, for a screen reader."""
    scores, truth = np.asarray(scores), np.asarray(is_anomaly).astype(bool)
    parts = [f"Median reconstruction error of the normal {what} {np.median(scores[~truth]):.4f}"]
    if truth.any():
        parts.append(f"of the anomalous {what} {np.median(scores[truth]):.4f}")
    text = ", ".join(parts) + "."
    if threshold is not None:
        below = (scores[~truth] < threshold).mean()
        text += f" The threshold, {threshold:.4f}, is above {below:.0%} of the normal {what}"
        text += (f" and {(scores[truth] < threshold).mean():.0%} of the anomalous ones."
                 if truth.any() else ".")
    return text


def roc_summary(auc: float, report: ThresholdReport) -> str:
    """What the ROC curve shows, for a screen reader."""
    return (f"ROC curve with AUC {auc:.3f} (0.5 is chance, 1 perfect). At the threshold the "
            f"detector flags {report.recall:.0%} of the anomalies at a false-alarm rate of "
            f"{report.false_alarm_rate:.0%}.")


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
