"""The Sparse and conv page teaches what two variants' insides look like: a sparse code
describes each digit by a few units, each drawing a stroke, and a convolution's filters are
local stroke and edge detectors. Its figures are ``aedemo.viz.insights``.

Sparse codes: an L1 penalty, lambda * sum_j |a_j|, charges each unit for how strongly it fires
(L0 would charge every active unit the same, and has no gradient), so the cheapest code leaves
most units at zero and each digit is drawn from a few "atoms", the images each unit decodes to
on its own (Ng, "Sparse autoencoder", CS294A notes, 2011, shows them as the units' preferred
inputs). The code is a ReLU, which is zero for every negative input whatever the penalty, so
the control is the same network trained with lambda = 0: what the penalty adds is the
difference between the two, not the difference from a dense model's linear code.

Convolutions: the first layer's 3x3 kernels are local stroke and edge detectors, and its feature
maps show where in a digit each detector fires (Masci et al., "Stacked convolutional
auto-encoders", 2011; Zeiler & Fergus, 2014, for looking at feature maps).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from aedemo.lessons.generate import decode
from aedemo.lessons.latent_space import encode
from aedemo.metrics import bce_per_image, mse_per_item, reconstruct
from aedemo.models.sparse import NEAR_ZERO


@dataclass(frozen=True)
class CodeStats:
    """The code activations of a set of images, how many of them are (near) zero, and how
    well the model reconstructs those images: what a sparsity penalty buys and what it costs."""

    codes: np.ndarray               # (N, k)
    recon_bce: float = math.nan     # mean reconstruction BCE, nats per image
    recon_mse: float = math.nan     # mean reconstruction MSE per pixel

    @property
    def values(self) -> np.ndarray:
        return self.codes.ravel()

    @property
    def k(self) -> int:
        return self.codes.shape[1]

    @property
    def near_zero(self) -> float:
        """Fraction of all activations with |a| < NEAR_ZERO (as the sparse model's metric)."""
        return float((np.abs(self.codes) < NEAR_ZERO).mean())

    @property
    def active_per_image(self) -> float:
        """Mean number of units that are not near zero, per image."""
        return float((np.abs(self.codes) >= NEAR_ZERO).sum(axis=1).mean())

    @property
    def dead_units(self) -> int:
        """Units that are near zero for every one of the images."""
        return int((self.firing_rate() == 0).sum())

    def activation_scale(self, quantile: float = 95.0) -> np.ndarray:
        """Per unit, (k,): a strong but typical activation, the ``quantile``-th percentile of
        its activations when it is on (|a| >= NEAR_ZERO); 0 for a unit that never fires. The
        median is too weak to draw: a unit's atom is then barely more than the empty code's
        image, since the decoder's biases draw most of the ink."""
        on = np.abs(self.codes) >= NEAR_ZERO
        return np.array([np.percentile(self.codes[on[:, j], j], quantile) if on[:, j].any()
                         else 0.0 for j in range(self.codes.shape[1])])

    def live_units(self) -> np.ndarray:
        """Indices of the units that fire for at least one image, most often used first."""
        rate = self.firing_rate()
        order = np.argsort(-rate, kind="stable")
        return order[rate[order] > 0]

    def firing_rate(self) -> np.ndarray:
        """Per unit, (k,): the fraction of images for which it is on."""
        return (np.abs(self.codes) >= NEAR_ZERO).mean(axis=0)


def code_stats(model, x: torch.Tensor) -> CodeStats:
    """The codes of x and the model's reconstruction error on the same images (BCE as the
    stored ``bce`` metric: summed over each image's pixels)."""
    codes = encode(model, x)
    recon = reconstruct(model, x)
    return CodeStats(codes, float(bce_per_image(recon, x).mean()),
                     float(mse_per_item(recon, x).mean()))


# --- what the penalty adds: the same network at other L1 weights ----------------------------

def l1_of(entry: Any) -> float:
    """A stored sparse model's L1 weight lambda."""
    return float(dict(entry.spec.hparams)["l1"])


def same_network(chosen: Any, candidates: Iterable[Any]) -> dict[float, Any]:
    """The stored sparse models to compare ``chosen`` with, one per L1 weight, in increasing
    lambda: those of the same k and dataset (the same network, only the penalty differs),
    ``chosen`` itself at its own lambda, and at every other lambda the first candidate trained
    as ``chosen`` was (the same epochs, batch size, learning rate and seed), else the first.
    Entries are StoredModel-like: anything with a ``spec``."""
    spec = chosen.spec
    found: dict[float, Any] = {l1_of(chosen): chosen}
    alike = [c for c in candidates if c.spec.variant == spec.variant
             and c.spec.latent_dim == spec.latent_dim and c.spec.dataset == spec.dataset]
    # a stable sort: the same training first, the candidates' own order within each
    for c in sorted(alike, key=lambda c: c.spec.train != spec.train):
        found.setdefault(l1_of(c), c)
    return dict(sorted(found.items()))


def l1_table(stats: Mapping[float, CodeStats], chosen: float) -> list[dict[str, Any]]:
    """One row per L1 weight: how sparse the code is and what the reconstruction costs."""
    return [{"L1 weight λ": f"{l1:g}" + (" (chosen)" if l1 == chosen else "")
             + (" (control)" if l1 == 0 and l1 != chosen else ""),
             "near-zero activations": f"{s.near_zero:.0%}",
             "units on per digit": round(s.active_per_image, 1),
             "units that never fire": s.dead_units,
             "reconstruction BCE (nats per image)": round(s.recon_bce, 1),
             "MSE": round(s.recon_mse, 4)} for l1, s in stats.items()]


def _cost(penalised: CodeStats, control: CodeStats) -> str:
    """What the penalty does to the reconstruction, in words."""
    extra = penalised.recon_bce - control.recon_bce
    both = f"BCE {penalised.recon_bce:.1f} against {control.recon_bce:.1f} nats per image"
    if extra > 0.05:
        return f"at a cost of {extra:.1f} nats per image of reconstruction ({both})"
    return f"with no loss in reconstruction ({both})"


def what_the_penalty_adds(stats: Mapping[float, CodeStats], chosen: float) -> str:
    """What the L1 penalty adds beyond the ReLU's own zeros, from the stored models of one
    network at several L1 weights (``stats`` by lambda, ``chosen`` among them): every number
    is measured, and without a lambda = 0 control the sentence says it cannot be told."""
    mine = stats[chosen]
    k = mine.k
    control = stats.get(0.0)
    if control is None:
        return (f"No sparse model of k = {k} without the penalty (λ = 0) is stored, so what "
                f"the ReLU zeroes by itself cannot be told from what the penalty adds: train "
                f"one on the Train page (sparse, k = {k}, l1 = 0) to see.")
    relu = (f"ReLU alone leaves {control.near_zero:.0%} of the activations at zero, "
            f"{control.active_per_image:.1f} of {k} units on per digit")
    if chosen == 0.0:
        others = [l1 for l1 in stats if l1 > 0]
        if not others:
            return (f"This is the control, with no penalty: its {relu}. No penalised model of "
                    f"k = {k} is stored to compare with.")
        parts = [f"at λ = {l1:g}, {stats[l1].near_zero:.0%} at zero and "
                 f"{stats[l1].active_per_image:.1f} units per digit, "
                 f"{_cost(stats[l1], control)}" for l1 in others]
        return (f"This is the control, with no penalty: its {relu}. The same network with the "
                f"penalty: " + "; ".join(parts) + ".")
    gain = mine.near_zero - control.near_zero
    if gain > 0.005:
        adds = (f"The penalty at λ = {chosen:g} adds the rest: {mine.near_zero:.0%} at zero "
                f"({gain * 100:.0f} points more), {mine.active_per_image:.1f} units on per "
                f"digit, {mine.dead_units} units that never fire (the control: "
                f"{control.dead_units}), {_cost(mine, control)}.")
    else:
        adds = (f"The penalty at λ = {chosen:g} adds nothing measurable here: "
                f"{mine.near_zero:.0%} at zero, {mine.active_per_image:.1f} units per digit.")
    return f"Without the penalty (λ = 0), the same network's {relu}. {adds}"


# --- atoms and convolutions -----------------------------------------------------------------

def atoms(model, scale: np.ndarray) -> torch.Tensor:
    """Each code unit decoded alone: decode(scale_j * e_j) for j = 1..k, (k, 1, 28, 28)."""
    k = model.latent_dim
    return decode(model, np.diag(np.asarray(scale, dtype=np.float32).reshape(k)))


def empty_code_image(model) -> torch.Tensor:
    """decode(0), (1, 1, 28, 28): what the decoder draws when no unit is on, the background
    every atom is drawn over."""
    return decode(model, np.zeros((1, model.latent_dim), dtype=np.float32))


def first_layer_filters(model) -> np.ndarray:
    """The first convolution's kernels, (out_channels, kh, kw) for a one-channel input."""
    weight = model.net.conv1.weight.detach().cpu().numpy()          # (16, 1, 3, 3)
    return weight[:, 0]


@torch.no_grad()
def feature_maps(model, image: torch.Tensor) -> list[np.ndarray]:
    """The activations of each conv layer for one image: [(16, 14, 14), (32, 7, 7)]."""
    model.eval()
    device = next(model.parameters()).device
    maps = model.net.feature_maps(image.reshape(1, *image.shape[-3:]).to(device))
    return [m[0].cpu().numpy() for m in maps]


# --- derived results, named for Service.derived: each reads what it needs from the dataset --

def code_stats_on_test_set(model, data, items: int) -> CodeStats:
    """code_stats of the first ``items`` test digits."""
    return code_stats(model, data.x_test[:items])
