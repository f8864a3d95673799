"""The Reconstructions page teaches that a code of k numbers is a compression: the smaller k,
the more the redrawing of a digit costs in error; that a non-linear autoencoder can beat the
best linear code, PCA, at the same k; and why the code must be narrow at all.

Rate-distortion: the test error of a code of k numbers falls as k grows, for PCA (the optimal
*linear* code in squared error, Eckart & Young 1936, Baldi & Hornik 1989) and for the dense and
convolutional autoencoders, whose k is the number of values their code holds (Hinton &
Salakhutdinov 2006 show the non-linear code beating PCA at the same k). Its figure is
``aedemo.viz.reconstructions``.

Why a bottleneck (the copy test, overfitting on too few digits) is
``reconstructions_bottleneck``'s.

Everything here takes plain tensors and models and returns numbers, tensors or sentences; the
page has the slow ones cached by ``Service.derived``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from aedemo.data import IMAGE_PIXELS
from aedemo.metrics import ink, mse_per_item, reconstruction_errors
from aedemo.models.dense import hidden_widths
from aedemo.projection import fit_pca

# PCA is fitted once with this many components; a k-component PCA is its first k components
# (principal components are nested), so one fit serves every k on the bottleneck slider.
PCA_MAX_K = 128

# The variants whose k is the number of values the code holds, so that k is a fair axis for
# them: a sparse model's k counts the units it may use (its L1 penalty keeps most near zero), a
# VAE's noisy code carries at most its KL in nats whatever k is, and the denoising model is
# trained for another task (cleaning corrupted inputs).
K_AXIS_VARIANTS = ("dense", "conv")


def is_overcomplete(latent_dim: int) -> bool:
    """A code at least as wide as the image: it can hold the image itself."""
    return latent_dim >= IMAGE_PIXELS


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

    def share_in_components(self, x: torch.Tensor) -> np.ndarray:
        """Per image of x, (N,): the share of its squared distance from the mean training
        digit that lies in the span of the components, the directions in which the training
        digits vary most. Near 1 for a digit; for an input unlike the digits, much less."""
        centred = x.flatten(1).numpy().astype(np.float64) - self.mean      # (N, D)
        inside = ((centred @ self.components.T) ** 2).sum(axis=1)          # (N,)
        return inside / np.maximum((centred ** 2).sum(axis=1), 1e-12)


def fit_pca_baseline(x_train: torch.Tensor, max_k: int = PCA_MAX_K, seed: int = 0) -> PCABaseline:
    """Fit PCA once with as many components as any k will need (at most the data's rank)."""
    n, d = len(x_train), x_train[0].numel()
    pca = fit_pca(x_train, min(max_k, n, d), seed=seed)
    return PCABaseline(pca.mean_.astype(np.float64), pca.components_.astype(np.float64),
                       pca.explained_variance_.copy())


@dataclass(frozen=True)
class ClippingEffect:
    """PCA's test error at one k as the page scores it (clipped to [0, 1]) and as the linear
    code it is (unclipped)."""

    k: int
    clipped: float
    linear: float


def clipping_effect(baseline: PCABaseline, x: torch.Tensor, k: int) -> ClippingEffect:
    k = min(k, baseline.max_k)
    return ClippingEffect(k, baseline.mse(x, k), baseline.mse(x, k, clip=False))


def pca_caveats(effect: ClippingEffect) -> str:
    """Why the PCA line is a fair baseline and in which way it is not, with the numbers of the
    k on the slider."""
    lower = effect.clipped < effect.linear
    clip = (f"which is no longer a linear map and {'lowers' if lower else 'does not raise'} "
            f"its error (at k = {effect.k}: {effect.clipped:.4f} clipped against "
            f"{effect.linear:.4f} as the linear code)")
    return ("PCA is the best *linear* code of k numbers in squared error. Shown and scored "
            f"here, its reconstructions are clipped to the pixels' range [0, 1], {clip}. And "
            "the contest is on PCA's own ground: PCA minimises the squared error, while the "
            "autoencoder is trained on binary cross-entropy and only judged here by MSE.")


# --- rate-distortion -------------------------------------------------------------------------

def model_sweep(models: Iterable, variants: Sequence[str] | None = None
                ) -> dict[str, list[tuple[int, float, str]]]:
    """Stored models -> {variant: [(k, test MSE, model id), ...] sorted by k}, from the MSE each
    model's JSON recorded when it was trained; only ``variants`` when given. A sweep of
    bottlenecks: an overcomplete code (k >= the image's pixels) is no bottleneck and is left
    out. ``models`` come newest first (as the store lists them): when several models share a
    variant and k, the newest one speaks for them."""
    sweep: dict[str, dict[int, tuple[int, float, str]]] = {}
    for m in models:
        mse = m.metrics.get("mse")
        spec = m.spec
        if mse is None or not np.isfinite(mse) or is_overcomplete(spec.latent_dim):
            continue
        if variants is not None and spec.variant not in variants:
            continue
        sweep.setdefault(spec.variant, {}).setdefault(spec.latent_dim,
                                                      (spec.latent_dim, float(mse), m.id))
    return {variant: sorted(points.values()) for variant, points in sweep.items()}


def final_losses(history: Sequence[Mapping[str, Any]]) -> tuple[float, float | None] | None:
    """(training loss, test loss) of a stored history's last epoch, in the model's own loss
    (nats per image for the image models); None for an empty history, a test loss of None
    when none was measured."""
    if not history:
        return None
    last = history[-1]
    return float(last["train"]["loss"]), (float(last["test"]["loss"]) if last.get("test")
                                          else None)


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


def _ks(ks: Sequence[int]) -> str:
    return ", ".join(map(str, ks[:-1])) + (" and " if len(ks) > 1 else "") + str(ks[-1])


def bottleneck_findings(dense: list[tuple[int, float, str]], pca: list[tuple[int, float]],
                        train_loss: Mapping[int, float], epochs: Mapping[int, int],
                        n_train: int) -> list[str]:
    """What the k chart shows, in sentences whose every number comes from the chart's points
    (``dense``: model_sweep's, ``pca``: pca_curve's) and the dense models' final training
    loss and epochs by k (from their stored histories). Where the autoencoder's curve
    flattens, the training loss says why: if it flattens too, the wider code is not being
    used even on the training digits, so the limit is the network and its training budget;
    if it still falls, the wider code fits the training digits without carrying over to new
    ones, which is what too few training digits looks like."""
    said: list[str] = []
    mse_at = {k: mse for k, mse, _ in dense}
    pca_at = dict(pca)
    flat_k = where_the_curve_flattens(dense)
    if flat_k is not None:
        before = max(k for k in mse_at if k < flat_k)
        text = (f"From k = {before} to k = {flat_k} the autoencoder's test error hardly falls "
                f"({mse_at[before]:.4f} to {mse_at[flat_k]:.4f} per pixel)")
        if before in train_loss and flat_k in train_loss:
            t0, t1 = train_loss[before], train_loss[flat_k]
            if t1 > t0 * (1 - FLAT):
                widths = " and ".join(map(str, hidden_widths(flat_k)))
                budget = (f"its training budget ({epochs[flat_k]} epochs)" if flat_k in epochs
                          else "its training budget")
                text += (f", and neither does its training loss ({t0:.1f} to {t1:.1f} nats "
                         "per image). A model short of training digits would still fit them "
                         "better with the wider code while only its test error stalled; this "
                         "one fits them no better, so what limits it is the network "
                         f"(hidden layers of {widths} units before the code) and {budget}, "
                         f"not the {n_train:,} training digits.")
            else:
                text += (f", while its training loss still does ({t0:.1f} to {t1:.1f} nats per "
                         "image): the wider code fits the training digits better without "
                         f"carrying over to new ones, the mark of too few training digits "
                         f"({n_train:,}).")
        else:
            text += "."
        said.append(text)
    wins = where_pca_wins(dense, pca)
    if len(wins) == 1:
        k = wins[0]
        said.append(f"At k = {k}, PCA's test error ({pca_at[k]:.4f}) is below the "
                    f"autoencoder's ({mse_at[k]:.4f}).")
    elif wins:
        pairs = "; ".join(f"k = {k}: {pca_at[k]:.4f} against {mse_at[k]:.4f}" for k in wins)
        said.append(f"At k = {_ks(wins)}, PCA's test error is below the autoencoder's "
                    f"({pairs}).")
    elif any(k in pca_at for k in mse_at):
        said.append("At every stored k the autoencoder's test error is below PCA's.")
    pca_errors = [e for _, e in sorted(pca)]
    falls = len(pca_errors) > 1 and all(a > b for a, b in zip(pca_errors, pca_errors[1:]))
    said.append(f"PCA is fitted on the same {n_train:,} training digits, in closed form (the "
                "top eigenvectors of their covariance): it has no network to size and no "
                "training budget to run out of"
                + (", and its error falls at every k on the chart." if falls else "."))
    return said


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


def sweep_summary(pca: Sequence[tuple[int, float]],
                  sweep: Mapping[str, Sequence[tuple]]) -> str:
    """The k chart in words, for a screen reader: each curve's first and last point and where
    PCA is below the dense autoencoder."""
    parts = []
    for name, points in sorted(sweep.items()):
        if len(points) == 1:
            parts.append(f"{name} at k = {points[0][0]}: {points[0][1]:.4f}")
        elif points:
            parts.append(f"{name} falls from {points[0][1]:.4f} at k = {points[0][0]} to "
                         f"{points[-1][1]:.4f} at k = {points[-1][0]}")
    if pca:
        parts.append(f"PCA from {pca[0][1]:.4f} at k = {pca[0][0]} to {pca[-1][1]:.4f} at "
                     f"k = {pca[-1][0]}")
    text = "Test error per pixel against bottleneck size k: " + "; ".join(parts) + "."
    wins = where_pca_wins(list(sweep.get("dense", [])), list(pca))
    if wins:
        text += f" PCA is below the dense autoencoder at k = {_ks(wins)}."
    return text


# --- reconstructions -------------------------------------------------------------------------

def pick_examples(labels: torch.Tensor, classes: Iterable[int], n: int, seed: int) -> np.ndarray:
    """n test indices drawn at random (by ``seed``) from the given classes, in drawn order."""
    wanted = torch.isin(labels, torch.tensor(sorted(set(classes)), dtype=labels.dtype))
    pool = np.flatnonzero(wanted.numpy())
    rng = np.random.default_rng(seed)
    return rng.permutation(pool)[:n]


def hardest(model, x: torch.Tensor, n: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """The n items of x the model reconstructs worst: (indices, their MSE), worst first."""
    return _hardest_of(reconstruction_errors(model, x).numpy(), n)


def _hardest_of(errors: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(-errors, kind="stable")[:n]
    return order, errors[order]


@dataclass(frozen=True)
class HardestDigits:
    """The items a model reconstructs worst, and how much the ranking owes to ink: MSE sums
    over pixels, so a digit with more ink has more pixels to get wrong."""

    indices: np.ndarray        # (n,) worst first
    errors: np.ndarray         # (n,) their MSE
    ink_error_r: float         # Pearson correlation of ink and MSE over all of x
    hardest_ink: float         # mean ink of the n hardest
    mean_ink: float            # mean ink of all of x


def hardest_and_ink(model, x: torch.Tensor, n: int = 10) -> HardestDigits:
    errors = reconstruction_errors(model, x).numpy()
    idx, err = _hardest_of(errors, n)
    amount = ink(x)
    r = float(np.corrcoef(amount, errors)[0, 1]) if len(x) > 1 else float("nan")
    return HardestDigits(idx, err, r, float(amount[idx].mean()), float(amount.mean()))


def ink_caveat(h: HardestDigits) -> str:
    """One sentence on how far the hardest digits are the inkiest, from the numbers."""
    more = h.hardest_ink / h.mean_ink if h.mean_ink > 0 else float("nan")
    text = (f"These are ranked by MSE, which grows with the amount of ink: across the test "
            f"set a digit's ink (its mean grey level) and its error correlate at "
            f"r = {h.ink_error_r:.2f}, and these {len(h.indices)} carry {more:.2f} times the "
            f"mean ink of a test digit ({h.hardest_ink:.3f} against {h.mean_ink:.3f}).")
    if h.ink_error_r > 0.1 and more > 1:
        text += " So part of what puts a digit here is how big and bold it is, not only how odd."
    return text


# --- derived results, named for Service.derived: each reads what it needs from the dataset --

def pca_on_training_set(data) -> PCABaseline:
    """PCA fitted to the training set: the autoencoders' baseline at every k."""
    return fit_pca_baseline(data.x_train)


def clipping_on_test_set(data, baseline: PCABaseline, k: int) -> ClippingEffect:
    """clipping_effect on the test set."""
    return clipping_effect(baseline, data.x_test, k)


def pca_curve_on_test_set(data, baseline: PCABaseline,
                          ks: tuple[int, ...]) -> list[tuple[int, float]]:
    """pca_curve on the test set."""
    return pca_curve(baseline, data.x_test, ks)


def hardest_on_test_set(model, data, n: int) -> HardestDigits:
    """hardest_and_ink among the test digits."""
    return hardest_and_ink(model, data.x_test, n)


def errors_on_test_set(model, data) -> np.ndarray:
    """Each test digit's reconstruction error (MSE) through ``model``."""
    return reconstruction_errors(model, data.x_test).numpy()
