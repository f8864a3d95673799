"""The Reconstructions page teaches that a code of k numbers is a compression: the smaller k,
the more the redrawing of a digit costs in error, and a non-linear autoencoder beats the best
linear code, PCA, at the same k.

Rate-distortion: the test error of a code of k numbers falls as k grows, for PCA (the optimal
*linear* code, Baldi & Hornik 1989) and for every trained autoencoder variant (Hinton &
Salakhutdinov 2006 show the non-linear code beating PCA at the same k). Its figure is
``aedemo.viz.reconstructions``.

Everything here takes plain tensors and models and returns numbers or tensors; the page has
the slow ones cached by ``Service.derived``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch

from aedemo.metrics import mse_per_item, reconstruction_errors
from aedemo.projection import fit_pca

# PCA is fitted once with this many components; a k-component PCA is its first k components
# (principal components are nested), so one fit serves every k on the bottleneck slider.
PCA_MAX_K = 128


# --- PCA, the linear baseline ----------------------------------------------------------------

@dataclass(frozen=True)
class PCABaseline:
    """The top principal components of a training set, truncated to any k on demand."""

    mean: np.ndarray          # (D,)
    components: np.ndarray    # (K, D), orthonormal rows, by decreasing variance
    explained_variance: np.ndarray   # (K,)

    @property
    def max_k(self) -> int:
        return len(self.components)

    def reconstruct(self, x: torch.Tensor, k: int, *, clip: bool = True) -> torch.Tensor:
        """Project x (N, ...) onto the first k components and back; clipped to the pixel range
        as an image is shown (``clip=False`` gives the textbook linear reconstruction)."""
        if not 1 <= k <= self.max_k:
            raise ValueError(f"k must be between 1 and {self.max_k}, not {k}")
        v = self.components[:k]                                   # (k, D)
        centred = x.flatten(1).numpy().astype(np.float64) - self.mean
        back = centred @ v.T @ v + self.mean                      # (N, D)
        out = torch.from_numpy(back).float().view_as(x)
        return out.clamp(0, 1) if clip else out

    def mse(self, x: torch.Tensor, k: int, *, clip: bool = True) -> float:
        """Mean squared error per pixel of the k-component reconstruction of x."""
        return mse_per_item(self.reconstruct(x, k, clip=clip), x).mean().item()


def fit_pca_baseline(x_train: torch.Tensor, max_k: int = PCA_MAX_K, seed: int = 0) -> PCABaseline:
    """Fit PCA once with as many components as any k will need (at most the data's rank)."""
    n, d = len(x_train), x_train[0].numel()
    pca = fit_pca(x_train, min(max_k, n, d), seed=seed)
    return PCABaseline(pca.mean_.astype(np.float64), pca.components_.astype(np.float64),
                       pca.explained_variance_.copy())


# --- rate-distortion -------------------------------------------------------------------------

def model_sweep(models: Iterable) -> dict[str, list[tuple[int, float, str]]]:
    """Stored models -> {variant: [(k, test MSE, model id), ...] sorted by k}, from the MSE each
    model's JSON recorded when it was trained. ``models`` come newest first (as the store lists
    them): when several models share a variant and k, the newest one speaks for them."""
    sweep: dict[str, dict[int, tuple[int, float, str]]] = {}
    for m in models:
        mse = m.metrics.get("mse")
        if mse is None or not np.isfinite(mse):
            continue
        spec = m.spec
        sweep.setdefault(spec.variant, {}).setdefault(spec.latent_dim,
                                                      (spec.latent_dim, float(mse), m.id))
    return {variant: sorted(points.values()) for variant, points in sweep.items()}


# A next k whose error is not at least this much lower than the k before counts as no better.
FLAT = 0.02


def where_pca_wins(dense: list[tuple[int, float, str]], pca: list[tuple[int, float]]) -> list[int]:
    """The ks at which PCA's test error is below the autoencoder's (from model_sweep's points
    and pca_curve's), smallest first."""
    pca_at = dict(pca)
    return [k for k, mse, _ in dense if k in pca_at and pca_at[k] < mse]


def where_the_curve_flattens(dense: list[tuple[int, float, str]]) -> int | None:
    """The first k of the sweep whose error is not clearly below the previous k's (by FLAT),
    or None while every wider code still helps."""
    for (_, before, _), (k, mse, _) in zip(dense, dense[1:]):
        if mse > before * (1 - FLAT):
            return k
    return None


def pca_curve(baseline: PCABaseline, x_test: torch.Tensor,
              ks: Iterable[int]) -> list[tuple[int, float]]:
    """[(k, test MSE of PCA with k components, clipped as shown)] for each k the baseline can
    give. The test set is projected once onto all the components it needs; each k then keeps
    the first k coordinates, which is the same as projecting onto k components."""
    ks = [k for k in sorted(set(ks)) if 1 <= k <= baseline.max_k]
    if not ks:
        return []
    flat = x_test.flatten(1).numpy()
    mean = baseline.mean.astype(np.float32)
    v = baseline.components[:ks[-1]].astype(np.float32)             # (K, D)
    coords = (flat - mean) @ v.T                                     # (N, K)
    curve = []
    for k in ks:
        back = np.clip(coords[:, :k] @ v[:k] + mean, 0, 1)           # (N, D)
        curve.append((k, float(np.mean((back - flat) ** 2, dtype=np.float64))))
    return curve


# --- reconstructions -------------------------------------------------------------------------

def pick_examples(labels: torch.Tensor, classes: Iterable[int], n: int, seed: int) -> np.ndarray:
    """n test indices drawn at random (by ``seed``) from the given classes, in drawn order."""
    wanted = torch.isin(labels, torch.tensor(sorted(set(classes)), dtype=labels.dtype))
    pool = np.flatnonzero(wanted.numpy())
    rng = np.random.default_rng(seed)
    return rng.permutation(pool)[:n]


def hardest(model, x: torch.Tensor, n: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """The n items of x the model reconstructs worst: (indices, their MSE), worst first."""
    errors = reconstruction_errors(model, x).numpy()
    order = np.argsort(-errors, kind="stable")[:n]
    return order, errors[order]
