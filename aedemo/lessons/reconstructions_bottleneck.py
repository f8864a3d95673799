"""The Reconstructions page's last part: why a bottleneck. A code as wide as the image lets a
plain autoencoder copy its input, which teaches it nothing about digits (Goodfellow, Bengio &
Courville, *Deep Learning*, 2016, section 14.1: an overcomplete autoencoder "can learn to copy
its input to its output without learning anything useful"); and a narrow code stops copying, not
memorising: trained on too few digits, the same network learns those by heart.

The rest of the page (rate-distortion against PCA, the hardest digits) is
``aedemo.lessons.reconstructions``; its figures are ``aedemo.viz.reconstructions``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from aedemo.data import IMAGE_PIXELS
from aedemo.metrics import reconstruction_errors

# --- why a bottleneck ------------------------------------------------------------------------

def scribbles(n: int = 3, seed: int = 0, *, points: tuple[int, int] = (8, 10),
              half_width: float = 0.8, size: int = 28, box: tuple[float, float] = (4.0, 24.0)
              ) -> torch.Tensor:
    """Non-digits made of pen strokes, (n, 1, size, size) in [0, 1]: each a seeded random
    polyline of ``points`` vertices (at least and at most) inside the central 20x20 box where
    MNIST centres its digits, drawn with a soft pen: full ink within ``half_width`` pixels of
    the line, fading to none one pixel further, a stroke about 3 pixels wide like MNIST's.
    Strokes rather than random pixels: the same kind of marks as a digit, in an arrangement
    no digit has, so what an autoencoder makes of them says whether it learned digits or
    learned to copy. The same seed gives the same scribbles, for the page and its tests."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] + 0.5                     # pixel centres, (size, size)
    out = np.zeros((n, size, size))
    for i in range(n):
        vertices = rng.uniform(*box, size=(rng.integers(points[0], points[1] + 1), 2))
        dist = np.full((size, size), np.inf)
        for (y0, x0), (y1, x1) in zip(vertices, vertices[1:]):
            dy, dx = y1 - y0, x1 - x0
            # the nearest point of the segment to each pixel centre, as a fraction along it
            t = np.clip(((yy - y0) * dy + (xx - x0) * dx) / max(dy * dy + dx * dx, 1e-9), 0, 1)
            dist = np.minimum(dist, np.hypot(yy - (y0 + t * dy), xx - (x0 + t * dx)))
        out[i] = np.clip(1.0 - (dist - half_width), 0, 1)
    return torch.from_numpy(out).float().unsqueeze(1)


def uniform_noise(n: int = 1, seed: int = 0, size: int = 28) -> torch.Tensor:
    """Seeded uniform noise in [0, 1], (n, 1, size, size): every pixel grey at random."""
    return torch.rand(n, 1, size, size, generator=torch.Generator().manual_seed(seed))


@dataclass(frozen=True)
class CopyTest:
    """One model's errors on the test set and on some other inputs, to see what it copies."""

    test_errors: np.ndarray      # (N,) MSE of each test digit
    errors: np.ndarray           # (M,) MSE of each other input

    @property
    def typical(self) -> float:
        """A typical test digit's error: the median."""
        return float(np.median(self.test_errors))

    def standing(self, error: float) -> float:
        """The share of test digits reconstructed better than an input with this error: near
        1, the input stands out among the digits (what an anomaly detector relies on)."""
        return float((self.test_errors < error).mean())


def copy_test(model, x_test: torch.Tensor, inputs: torch.Tensor) -> CopyTest:
    return CopyTest(reconstruction_errors(model, x_test).numpy(),
                    reconstruction_errors(model, inputs).numpy())


def copy_findings(narrow_k: int, narrow: CopyTest, wide_k: int, wide: CopyTest,
                  kinds: Sequence[str], shares: Mapping[str, float] | None = None,
                  directions: int | None = None) -> list[str]:
    """What the narrow and the wide code make of test digits and of inputs that are not
    digits, in sentences computed from their errors. ``kinds`` names each of the inputs
    "scribble", "noise" or anything else (a drawing: not summarised here); ``shares`` may give
    the share of a "digit" and of the "noise" lying in the ``directions`` in which the
    training digits vary most (PCABaseline.share_in_components), to say why noise is not
    copied."""
    kinds = list(kinds)
    said = []
    scrib = [i for i, kind in enumerate(kinds) if kind == "scribble"]
    noise = [i for i, kind in enumerate(kinds) if kind == "noise"]
    digit_gain = narrow.typical / wide.typical
    text = (f"Through the wide code (k = {wide_k}, more numbers than the image's {IMAGE_PIXELS} "
            f"pixels) a typical test digit comes back with an MSE of {wide.typical:.4f}, "
            f"against {narrow.typical:.4f} through k = {narrow_k}")
    if scrib:
        s_wide, s_narrow = wide.errors[scrib].mean(), narrow.errors[scrib].mean()
        text += f", and the scribbles with {s_wide:.4f} against {s_narrow:.4f}"
        if s_wide < s_narrow and digit_gain > 1:
            text += (f" ({s_narrow / s_wide:.0f} times less error): it redraws what it is "
                     "shown, digit or not, far more faithfully than the bottleneck can.")
        else:
            text += ": it does not redraw the scribbles better than the bottleneck does."
        said.append(text)
        r_narrow = s_narrow / narrow.typical
        r_wide = s_wide / wide.typical
        st_narrow = np.mean([narrow.standing(e) for e in narrow.errors[scrib]])
        st_wide = np.mean([wide.standing(e) for e in wide.errors[scrib]])
        text = (f"Against the digits, a scribble's error is on average {r_narrow:.1f} times a "
                f"typical test digit's through k = {narrow_k} and {r_wide:.1f} times through "
                f"k = {wide_k}; it is above {st_narrow:.0%} and {st_wide:.0%} of the test "
                "digits' errors. ")
        if st_wide < st_narrow:
            text += ("So through the wide code the scribbles stand out less among the digits: "
                     "as an anomaly detector it would let more of them pass.")
        else:
            text += ("So here the scribbles stand out no less through the wide code: copying "
                     "did not hide them this time.")
        said.append(text)
    else:
        said.append(text + ".")
    if noise:
        n_wide, n_narrow = wide.errors[noise].mean(), narrow.errors[noise].mean()
        copied = n_wide < 5 * wide.typical
        text = (f"Uniform noise it {'copies too' if copied else 'does not copy'}: MSE "
                f"{n_wide:.4f} (k = {narrow_k}: {n_narrow:.4f}), {n_wide / wide.typical:.0f} "
                "times a typical digit's.")
        if (not copied and directions and shares and {"digit", "noise"} <= shares.keys()
                and shares["noise"] < shares["digit"]):
            text += (" Training moves the first layer's weights only within the span of the "
                     "training digits, and mostly along the directions in which they vary most "
                     "(a pixel that is 0 in every training digit gives its weights no gradient "
                     f"at all); noise lies mostly elsewhere: the {directions} directions that "
                     f"hold {shares['digit']:.0%} of a test digit's departure from the mean "
                     f"digit hold only {shares['noise']:.0%} of the noise's.")
        said.append(text)
    return said


@dataclass(frozen=True)
class LossCurve:
    """One model's loss per epoch, training and test, in its own loss (nats per image)."""

    label: str
    epochs: list[int]
    train: list[float]
    test: list[float]

    @property
    def final_gap(self) -> float:
        return self.test[-1] - self.train[-1]


def loss_curve(label: str, history: Sequence[Mapping[str, Any]]) -> LossCurve:
    """A stored history's training and test loss per epoch (epochs with a test loss only)."""
    rows = [h for h in history if h.get("test")]
    return LossCurve(label, [int(h["epoch"]) for h in rows],
                     [float(h["train"]["loss"]) for h in rows],
                     [float(h["test"]["loss"]) for h in rows])


def overfitting_findings(curves: Sequence[tuple[int, LossCurve]], k: int) -> list[str]:
    """``curves``: (number of training digits, its model's curve), in any order, for models
    with a code of k numbers. Sentences on the final training and test loss of each and the
    gap between them, from the curves."""
    ordered = sorted(curves, key=lambda c: c[0])
    if not ordered:
        return []
    each = "; ".join(f"on {n:,} digits, {c.train[-1]:.0f} and {c.test[-1]:.0f} "
                     f"(a gap of {c.final_gap:.0f})" for n, c in ordered)
    said = [f"After the last epoch, training and test loss in nats per image: {each}."]
    gaps = [c.final_gap for _, c in ordered]
    trains = [c.train[-1] for _, c in ordered]
    if len(ordered) > 1 and all(a > b for a, b in zip(gaps, gaps[1:])):
        fewest = ordered[0][0]
        said.append("The fewer the digits, the wider the gap"
                    + (" and the lower the training loss" if all(
                        a < b for a, b in zip(trains, trains[1:])) else "")
                    + f": with a code of only {k} numbers, the model on "
                    f"{fewest:,} digits learns those by heart and does badly on new ones. A "
                    "narrow code stops the network from copying its input, not from "
                    "memorising its training set; more data (or a regulariser, or stopping "
                    "early) does that.")
    return said


# --- derived results, named for Service.derived ---------------------------------------------

def pca_shares(data, baseline) -> dict[str, float]:
    """The mean share of an image's energy in the baseline's components (a fitted
    reconstructions.PCABaseline): test digits against uniform noise, which spreads over every
    direction."""
    return {"digit": float(np.mean(baseline.share_in_components(data.x_test))),
            "noise": float(np.mean(baseline.share_in_components(uniform_noise(1))))}
