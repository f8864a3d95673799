"""The Generate page teaches that a decoder draws from any code, and that a VAE's prior is what
makes random codes decode to digits: samples from the prior, paths between two codes, the
decoded plane of a two-dimensional code, and the VAE's loss taken apart into reconstruction and
KL per code unit. Its figures are ``aedemo.viz.generate``; ``decode`` serves every lesson.

A VAE is trained so that its codes follow N(0, I) (Kingma & Welling, "Auto-Encoding Variational
Bayes", 2014), so decoding z ~ N(0, I) gives plausible digits; a plain autoencoder's codes sit
wherever training put them, and most of N(0, I) decodes to smudges. The manifold grid is
Kingma & Welling's figure 4: a regular grid of the unit square mapped through the Gaussian's
inverse CDF, so each cell holds the same prior mass, decoded and laid out as one picture.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from scipy.stats import norm

from aedemo.lessons.latent_space import encode

# The manifold grid avoids the prior's tails: quantiles 5% to 95%, as in Kingma & Welling fig. 4.
QUANTILE_RANGE = (0.05, 0.95)
# A plain autoencoder's plane is spanned between these percentiles of its test codes: the
# extremes are a few outliers and would waste most of the grid on empty space.
PERCENTILE_RANGE = (1.0, 99.0)


@torch.no_grad()
def decode(model, z: torch.Tensor | np.ndarray) -> torch.Tensor:
    """Decode codes (N, k) to images on the CPU."""
    model.eval()
    device = next(model.parameters()).device
    z = torch.as_tensor(np.asarray(z, dtype=np.float32)).to(device)
    return model.decode(z).cpu()


def prior_codes(n: int, k: int, *, temperature: float = 1.0, seed: int = 0) -> torch.Tensor:
    """n codes from N(0, temperature^2 I_k). The same seed and k give the same codes, so two
    decoders can be shown the very same draws."""
    rng = torch.Generator().manual_seed(seed)
    return torch.randn(n, k, generator=rng) * temperature


def sample_prior(model, n: int, *, temperature: float = 1.0, seed: int = 0) -> torch.Tensor:
    """n images decoded from z ~ N(0, temperature^2 I), for any autoencoder."""
    return decode(model, prior_codes(n, model.latent_dim, temperature=temperature, seed=seed))


def interpolate(model, x_from: torch.Tensor, x_to: torch.Tensor, steps: int = 10) -> torch.Tensor:
    """Decode ``steps`` codes on the straight line from encode(x_from) to encode(x_to),
    endpoints included: (steps, 1, 28, 28). For a VAE the codes are the posterior means."""
    if steps < 2:
        raise ValueError("an interpolation needs at least 2 steps")
    z = encode(model, torch.stack([x_from.reshape(x_from.shape[-3:]),
                                   x_to.reshape(x_to.shape[-3:])]))      # (2, k)
    t = np.linspace(0.0, 1.0, steps, dtype=np.float32)[:, None]         # (steps, 1)
    return decode(model, (1 - t) * z[0] + t * z[1])


@dataclass(frozen=True)
class ManifoldGrid:
    """A decoded n x n grid of the code plane. ``images`` run row by row from the top left:
    z1 grows to the right and z2 grows upwards, as on the latent map."""

    images: torch.Tensor      # (n * n, 1, 28, 28)
    z1: np.ndarray            # (n,) left to right
    z2: np.ndarray            # (n,) bottom to top
    method: str               # "prior quantiles" or "code range"

    @property
    def n(self) -> int:
        return len(self.z1)


def manifold_grid(model, n: int = 15, *, codes: np.ndarray | None = None) -> ManifoldGrid:
    """The decoded plane of a model with a 2D code. Without ``codes`` the grid holds the N(0, 1)
    quantiles (for a VAE); with the test codes (N, 2) it spans their 1st to 99th percentiles."""
    if model.latent_dim != 2:
        raise ValueError(f"a manifold grid needs a 2D code, not k = {model.latent_dim}")
    if codes is None:
        z1 = z2 = norm.ppf(np.linspace(*QUANTILE_RANGE, n))
        method = "prior quantiles"
    else:
        low, high = np.percentile(np.asarray(codes), PERCENTILE_RANGE, axis=0)   # (2,) each
        z1, z2 = np.linspace(low[0], high[0], n), np.linspace(low[1], high[1], n)
        method = "code range"
    # rows from the top: the largest z2 first, so the picture reads like the scatter plot
    zz1, zz2 = np.meshgrid(z1, z2[::-1])
    grid = np.stack([zz1.ravel(), zz2.ravel()], axis=1)                  # (n * n, 2)
    return ManifoldGrid(decode(model, grid), np.asarray(z1), np.asarray(z2), method)


# --- the VAE's loss, taken apart -------------------------------------------------------------

def loss_terms(history: Sequence[dict[str, Any]], split: str = "train") -> dict[str, list[float]]:
    """From a stored history: {"epoch": [...], "recon": [...], "kl": [...]} for ``split``."""
    rows = [e for e in history if split in e and "kl" in e[split]]
    return {"epoch": [e["epoch"] for e in rows],
            "recon": [float(e[split]["recon"]) for e in rows],
            "kl": [float(e[split]["kl"]) for e in rows]}


def kl_per_dimension(model, x: torch.Tensor, *, batch_size: int = 1000) -> np.ndarray:
    """Mean KL(q(z_j|x) || N(0, 1)) of each code unit over x, shape (k,), in nats."""
    total = np.zeros(model.latent_dim)
    device = next(model.parameters()).device
    for i in range(0, len(x), batch_size):
        xb = x[i:i + batch_size]
        total += model.kl_per_dimension(xb.to(device)).cpu().numpy() * len(xb)
    return total / max(len(x), 1)
