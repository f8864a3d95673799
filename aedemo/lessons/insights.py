"""The Sparse and conv page teaches what two variants' insides look like: a sparse code
describes each digit by a few units, each drawing a stroke, and a convolution's filters are
local stroke and edge detectors. Its figures are ``aedemo.viz.insights``.

Sparse codes: with an L1 penalty most code units are exactly zero for any one image, so each
digit is drawn from a few "atoms", the images each unit decodes to on its own (Ng, "Sparse
autoencoder", CS294A notes, 2011, shows them as the units' preferred inputs). The dense code of
the same size spreads every image over all its units.

Convolutions: the first layer's 3x3 kernels are local stroke and edge detectors, and its feature
maps show where in a digit each detector fires (Masci et al., "Stacked convolutional
auto-encoders", 2011; Zeiler & Fergus, 2014, for looking at feature maps).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from aedemo.lessons.generate import decode
from aedemo.lessons.latent_space import encode
from aedemo.models.sparse import NEAR_ZERO


@dataclass(frozen=True)
class CodeStats:
    """The code activations of a set of images, and how many of them are (near) zero."""

    codes: np.ndarray          # (N, k)

    @property
    def values(self) -> np.ndarray:
        return self.codes.ravel()

    @property
    def near_zero(self) -> float:
        """Fraction of all activations with |a| < NEAR_ZERO (as the sparse model's metric)."""
        return float((np.abs(self.codes) < NEAR_ZERO).mean())

    @property
    def active_per_image(self) -> float:
        """Mean number of units that are not near zero, per image."""
        return float((np.abs(self.codes) >= NEAR_ZERO).sum(axis=1).mean())

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
    return CodeStats(encode(model, x))


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
    weight = model.conv1.weight.detach().cpu().numpy()          # (16, 1, 3, 3)
    return weight[:, 0]


@torch.no_grad()
def feature_maps(model, image: torch.Tensor) -> list[np.ndarray]:
    """The activations of each conv layer for one image: [(16, 14, 14), (32, 7, 7)]."""
    model.eval()
    device = next(model.parameters()).device
    maps = model.feature_maps(image.reshape(1, *image.shape[-3:]).to(device))
    return [m[0].cpu().numpy() for m in maps]
