"""The Generate page's second half: what the KL term does to a VAE. Its loss taken apart as
reconstruction + KL = −ELBO, the KL of each code unit beside latent traversals, and every stored
VAE on the rate-distortion plane. Its figures are ``aedemo.viz.generate``'s, as the first
half's (``aedemo.lessons.generate``).

The KL of a code unit, averaged over the data, is an upper bound on the information (in nats) the
unit carries about the image: E_x KL(q(z_j|x) || p(z_j)) = I(x; z_j) + KL(q(z_j) || p(z_j))
(Hoffman & Johnson, "ELBO surgery", 2016). A unit whose bound is near zero carries nothing:
it has collapsed to the prior. With beta > 1 more units do (Higgins et al., beta-VAE, 2017), and
every VAE is a point on the rate (KL) against distortion (reconstruction) plane (Alemi et al.,
"Fixing a Broken ELBO", 2018).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from aedemo import zoo
from aedemo.lessons.generate import decode
from aedemo.lessons.latent_space import encode
from aedemo.metrics import bce_floor
from aedemo.models.vae import ACTIVE_KL

# --- the VAE's loss, taken apart -------------------------------------------------------------

def loss_terms(history: Sequence[dict[str, Any]], split: str = "train") -> dict[str, list[float]]:
    """From a stored history: {"epoch": [...], "recon": [...], "kl": [...]} for ``split``."""
    rows = [e for e in history if split in e and "kl" in e[split]]
    return {"epoch": [e["epoch"] for e in rows],
            "recon": [float(e[split]["recon"]) for e in rows],
            "kl": [float(e[split]["kl"]) for e in rows]}


def bce_floors(data) -> dict[str, float]:
    """The least reconstruction loss any model can reach on the training and the test images,
    in nats per image (``metrics.bce_floor``): grey-level targets keep BCE above zero."""
    return {"train": bce_floor(data.x_train), "test": bce_floor(data.x_test)}


def loss_text(train: dict[str, list[float]], test: dict[str, list[float]] | None, *,
              beta: float, floors: dict[str, float]) -> str:
    """The loss chart in words: the last epoch's terms, the floor, and what was optimised."""
    parts = []
    for split, terms, images in (("train", train, "training"), ("test", test, "test")):
        if not terms or not terms.get("epoch"):
            continue
        recon, kl = terms["recon"][-1], terms["kl"][-1]
        parts.append(f"On the {images} images at epoch {terms['epoch'][-1]}, −ELBO is "
                     f"{recon + kl:.1f} nats per image: reconstruction {recon:.1f} + KL "
                     f"{kl:.1f}; no model's reconstruction can go below "
                     f"{floors[split]:.1f}, the BCE floor of these grey-level images.")
    if not parts:
        return "No loss history is stored for this model."
    if beta != 1:
        terms = train if train and train.get("epoch") else test
        recon, kl = terms["recon"][-1], terms["kl"][-1]
        parts.append(f"Training minimised reconstruction + {beta:g} × KL ({recon + beta * kl:.1f} "
                     f"at the last epoch), not −ELBO, because beta = {beta:g}.")
    return " ".join(parts)


def kl_per_dimension(model, x: torch.Tensor, *, batch_size: int = 1000) -> np.ndarray:
    """Mean KL(q(z_j|x) || N(0, 1)) of each code unit over x, shape (k,), in nats: an upper
    bound on the information unit j carries about x."""
    total = np.zeros(model.latent_dim)
    device = next(model.parameters()).device
    for i in range(0, len(x), batch_size):
        xb = x[i:i + batch_size]
        total += model.kl_per_dimension(xb.to(device)).cpu().numpy() * len(xb)
    return total / max(len(x), 1)


def kl_text(kl: np.ndarray, threshold: float = ACTIVE_KL) -> str:
    """The KL-per-unit chart in words."""
    kl = np.asarray(kl, dtype=float)
    active = kl > threshold
    order = np.argsort(-kl)
    text = (f"Mean KL per code unit on the test images, an upper bound on what each carries: "
            f"{int(active.sum())} of {len(kl)} units are above {threshold:g} nats, the largest "
            f"z{order[0] + 1} with {kl[order[0]]:.2f} nats.")
    if (~active).any():
        names = ", ".join(f"z{j + 1}" for j in np.flatnonzero(~active))
        text += (f" The inactive ones ({names}) carry at most {kl[~active].max():.3f} nats: "
                 f"they have collapsed to the prior.")
    return text


# --- latent traversals -------------------------------------------------------------------------

# Each unit is set to these values in turn, the others kept at the digit's code: the prior's
# -3 to 3 sigma, as in Higgins et al.'s traversals (beta-VAE, 2017).
TRAVERSAL_VALUES = tuple(float(v) for v in np.linspace(-3.0, 3.0, 7))


@dataclass(frozen=True)
class Traversal:
    """One digit's code with one unit at a time swept over ``values``: row r of ``images``
    sets unit ``units[r]`` to each value in turn. Rows run from the largest KL to the least."""

    code: np.ndarray          # (k,) the digit's code (for a VAE, the posterior mean)
    units: np.ndarray         # (k,) unit indices, largest KL first
    kl: np.ndarray            # (k,) each row's unit's KL, nats
    values: np.ndarray        # (V,)
    images: torch.Tensor      # (k * V, 1, 28, 28), row by row
    change: np.ndarray        # (k,) mean |image - reconstruction| over each row's pixels

    @property
    def active(self) -> np.ndarray:
        return self.kl > ACTIVE_KL


def traversal(model, x: torch.Tensor, kl: np.ndarray,
              values: Sequence[float] = TRAVERSAL_VALUES) -> Traversal:
    """Latent traversals of one image x (1, 28, 28): each unit in turn set to each of
    ``values`` with the others at x's code, decoded; ``kl`` (k,) orders the units."""
    kl = np.asarray(kl, dtype=float)
    code = encode(model, x.reshape(1, *x.shape[-3:]))[0]                # (k,)
    units = np.argsort(-kl, kind="stable")
    vals = np.asarray(values, dtype=np.float32)
    z = np.repeat(code[None, None, :], len(units) * len(vals), axis=0).reshape(
        len(units), len(vals), -1).copy()                               # (k, V, k)
    for r, j in enumerate(units):
        z[r, :, j] = vals
    images = decode(model, z.reshape(-1, len(code)))                   # (k * V, 1, 28, 28)
    base = decode(model, code[None])                                   # (1, 1, 28, 28)
    change = (images - base).abs().reshape(len(units), -1).mean(dim=1).double().numpy()
    return Traversal(code=code, units=units, kl=kl[units], values=vals, images=images,
                     change=change)


# Inactive units "change nothing" when the picture moves less than this share as much along
# them as along the active ones.
IGNORED_SHARE = 0.1


def traversal_text(trav: Traversal) -> str:
    """How much the pictures change along active units against inactive ones, measured, and
    what that says (the decoder ignores the inactive units only when they change little)."""
    active = trav.active
    measure = "per pixel on average (mean absolute change from the reconstruction)"
    if not active.any():
        return (f"None of this VAE's {len(active)} units is active (KL above {ACTIVE_KL:g} "
                f"nats); along them the picture changes by {trav.change.mean():.4f} {measure}.")
    moved = trav.change[active].mean()
    text = (f"Along the {int(active.sum())} active units the picture changes by {moved:.3f} "
            f"{measure}")
    if active.all():
        return text + "; every unit of this VAE is active."
    still = trav.change[~active].mean()
    text += f"; along the {int((~active).sum())} inactive ones by {still:.4f}"
    return text + (": the decoder ignores them." if still < IGNORED_SHARE * moved else ".")


# --- beta: every VAE on the rate-distortion plane ------------------------------------------------

@dataclass(frozen=True)
class VAEPoint:
    """A stored VAE on the rate-distortion plane, from its test metrics: rate = KL (nats),
    distortion = reconstruction = −ELBO - KL (nats per image)."""

    model_id: str
    k: int
    beta: float
    rate: float
    distortion: float
    active: int | None
    sweep: tuple              # what a beta sweep holds fixed: k, dataset and training settings

    @property
    def neg_elbo(self) -> float:
        return self.rate + self.distortion

    @property
    def collapsed(self) -> int | None:
        return None if self.active is None else self.k - self.active

    @property
    def label(self) -> str:
        return f"β = {self.beta:g}, k = {self.k}"


def vae_points(models: Iterable[Any]) -> list[VAEPoint]:
    """The stored VAEs (``StoredModel``s) whose metrics hold their KL and −ELBO."""
    points = []
    for m in models:
        spec, metrics = m.spec, m.metrics
        if spec.variant != "vae" or "kl" not in metrics or "neg_elbo" not in metrics:
            continue
        active = metrics.get("active_units")
        points.append(VAEPoint(
            model_id=m.id, k=spec.latent_dim, beta=float(dict(spec.hparams).get("beta", 1.0)),
            rate=float(metrics["kl"]), distortion=float(metrics["neg_elbo"] - metrics["kl"]),
            active=None if active is None else int(active),
            sweep=(spec.latent_dim, spec.dataset, spec.train)))
    return points


def beta_sweeps(points: Sequence[VAEPoint]) -> list[list[VAEPoint]]:
    """VAEs that differ only in beta, each group ordered by beta: the curves of the plane.
    A beta stored twice counts once (the first given)."""
    groups: dict[tuple, dict[float, VAEPoint]] = {}
    for p in points:
        groups.setdefault(p.sweep, {}).setdefault(p.beta, p)
    return [sorted(g.values(), key=lambda p: p.beta) for g in groups.values() if len(g) > 1]


def rate_distortion_text(points: Sequence[VAEPoint], sweeps: Sequence[Sequence[VAEPoint]], *,
                         bold: bool = True) -> str:
    """The plane in words: each sweep's ends, its best −ELBO, and every collapse, named
    (in bold as Markdown unless ``bold`` is False, for a text read aloud as it is)."""
    if not points:
        return "No stored VAE has its KL and −ELBO measured."
    parts = []
    for sweep in sweeps:
        low, high = sweep[0], sweep[-1]
        best = min(sweep, key=lambda p: p.neg_elbo)
        parts.append(f"At k = {low.k}, raising β from {low.beta:g} to {high.beta:g} "
                     f"{'cuts' if high.rate < low.rate else 'raises'} the rate from "
                     f"{low.rate:.1f} to {high.rate:.1f} nats and "
                     f"{'raises' if high.distortion > low.distortion else 'cuts'} the "
                     f"distortion from {low.distortion:.1f} to {high.distortion:.1f} nats per "
                     f"image; the lowest −ELBO, {best.neg_elbo:.1f}, is at β = {best.beta:g}.")
    collapsed = [p for p in points if p.collapsed]
    mark = "**" if bold else ""
    for p in sorted(collapsed, key=lambda p: (p.k, p.beta)):
        parts.append(f"At β = {p.beta:g} (k = {p.k}), {p.collapsed} of {p.k} units have "
                     f"collapsed to the prior (KL at most {ACTIVE_KL:g} nats): {mark}posterior "
                     f"collapse{mark}, their q(z_j|x) is N(0, 1) whatever the image, so they carry "
                     f"nothing and the decoder ignores them.")
    if not collapsed:
        parts.append("No stored VAE has a collapsed unit: every unit carries information.")
    return " ".join(parts)


def plane_summary(points: Sequence[VAEPoint], sweeps: Sequence[Sequence[VAEPoint]]) -> str:
    """The rate-distortion chart for a screen reader: every point, then what they say."""
    if not points:
        return "No stored VAE has its KL and −ELBO measured."
    each = "; ".join(f"{p.label}: rate {p.rate:.1f} nats, distortion {p.distortion:.1f}"
                     + (f", {p.collapsed} of {p.k} units collapsed" if p.collapsed else "")
                     for p in sorted(points, key=lambda p: (p.k, p.beta)))
    return (f"{len(points)} VAEs on the rate (KL) against distortion (reconstruction) plane: "
            f"{each}. " + rate_distortion_text(points, sweeps, bold=False))


def zoo_beta_specs(images) -> list:
    """The zoo's VAEs of the beta sweep (beta = 1 and zoo.BETAS, at the same k) on the app's
    image set, ordered by beta: what the page offers to train when one is not stored."""
    swept = {e.hparams.get("latent_dim") for e in zoo.ZOO
             if e.variant == "vae" and e.hparams.get("beta", 1.0) != 1.0}
    specs = [zoo.entry_spec(e, images) for e in zoo.ZOO
             if e.variant == "vae" and e.hparams.get("latent_dim") in swept]
    return sorted(specs, key=lambda s: dict(s.hparams).get("beta", 1.0))


# --- derived results, named for Service.derived: each reads what it needs from the dataset --

def kl_per_dimension_on_test_set(model, data) -> np.ndarray:
    """kl_per_dimension over the test set."""
    return kl_per_dimension(model, data.x_test)


def traversal_of_test_digit(model, data, kl: np.ndarray, index: int) -> Traversal:
    """The traversal of test digit ``index``, its units ordered by ``kl``."""
    return traversal(model, data.x_test[index], kl)
