"""The Generate page teaches that a decoder draws from any code, and what a VAE's prior adds:
samples from the prior beside a plain autoencoder's (from N(0, I) and, the fair test, from a
Gaussian fitted to its own codes), paths between two codes, and the decoded plane of a 2D code;
what the KL term does (the loss taken apart, the KL of each unit, traversals, the beta plane) is
``generate_kl``'s. Its figures are ``aedemo.viz.generate``; ``decode`` serves every lesson.

A VAE (Kingma & Welling, "Auto-Encoding Variational Bayes", 2014) is trained with a KL term that
pulls each posterior q(z|x) towards the prior N(0, I); only the aggregate posterior, all the
q(z|x) together, ends up roughly N(0, I), which is why decoding z ~ N(0, I) gives digits. A plain
autoencoder's codes sit wherever training put them, at another scale: decoded, N(0, I) draws are
smudges, while draws from a Gaussian fitted to its own codes are digits too. What the KL term buys
is a prior known before training (nothing to fit afterwards) and a decoder trained on regions of
codes rather than points.

The manifold grid follows Kingma & Welling's figure 4: a linear grid of the unit square mapped
through the Gaussian's inverse CDF, so each cell holds the same prior mass. The crop to the 5%-95%
quantiles is not theirs: it comes from the Keras VAE example (keras/examples/
variational_autoencoder.py), which leaves out the tails where the decoder has seen few codes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy.stats import norm

from aedemo.lessons.latent_space import encode
from aedemo.models.vae import ACTIVE_KL

# The manifold grid's quantiles: the 5%-95% crop of the Keras VAE example (not Kingma &
# Welling's, whose grid spans the unit square), which keeps the prior's thin tails off the grid.
QUANTILE_RANGE = (0.05, 0.95)
# A plain autoencoder's plane is spanned between these percentiles of its test codes: the
# extremes are a few outliers and would waste most of the grid on empty space.
PERCENTILE_RANGE = (1.0, 99.0)


@torch.no_grad()
def decode(model, z: torch.Tensor | np.ndarray) -> torch.Tensor:
    """Decode codes (N, k) to images on the CPU: each pixel's Bernoulli mean (its probability
    of being ink), not a draw of black and white pixels from it."""
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


def prior_mean_norm(k: int) -> float:
    """The mean length of a draw from N(0, I_k): sqrt(2) Gamma((k + 1) / 2) / Gamma(k / 2),
    the mean of a chi distribution with k degrees of freedom (just under sqrt(k))."""
    return math.sqrt(2.0) * math.exp(math.lgamma((k + 1) / 2) - math.lgamma(k / 2))


# --- what a set of samples looks like -----------------------------------------------------------

INK, SOLID = 0.2, 0.8       # a pixel above INK is ink; ink below SOLID is grey, not solid
LOOK_ITEMS = 500            # test digits to compare samples with
LOOK_SAMPLES = 200          # samples per temperature: enough for numbers that hold still
TEMPERATURES = (0.5, 1.0, 1.5)


@dataclass(frozen=True)
class Look:
    """What a set of images looks like, in numbers a student can hold against the test digits'.

    ``ink``: the mean total brightness of an image (a faint smudge has little); ``grey``: the
    share of the inked pixels (above INK) that are grey (below SOLID), which is what blur looks
    like; ``variety``: the mean distance between two different images of the set (Euclidean,
    pixels in [0, 1]), small when they all look alike."""

    ink: float
    grey: float
    variety: float
    count: int


def look(images: torch.Tensor) -> Look:
    x = images.detach().cpu().double().flatten(1)                     # (N, 784)
    n = len(x)
    inked = x > INK
    grey = float((inked & (x < SOLID)).sum() / inked.sum().clamp(min=1))
    pairs = n * (n - 1)
    variety = float(torch.cdist(x, x).sum() / pairs) if pairs else 0.0   # the diagonal is 0
    return Look(ink=float(x.sum(dim=1).mean()) if n else 0.0, grey=grey, variety=variety,
                count=n)


def temperature_looks(model, temperatures: Sequence[float] = TEMPERATURES,
                      n: int = LOOK_SAMPLES, seed: int = 0) -> dict[float, Look]:
    """How the prior's samples look at each temperature (the same draws, scaled)."""
    return {float(t): look(sample_prior(model, n, temperature=t, seed=seed))
            for t in temperatures}


def temperature_text(looks: dict[float, Look], test: Look) -> str:
    """What temperature does to this model's samples, in words chosen by the numbers: at each
    temperature other than 1, blurrier or sharper and more alike or more varied than at 1."""
    if 1.0 not in looks:
        raise ValueError("the comparison needs the samples at temperature 1")
    one = looks[1.0]
    parts = []
    for t in sorted(t for t in looks if t != 1.0):
        at = looks[t]
        blur = "blurrier" if at.grey > one.grey else "sharper"
        alike = "more alike" if at.variety < one.variety else "more varied"
        text = (f"at T = {t:g} the samples are {blur} than at T = 1 ({at.grey:.0%} of their "
                f"ink is grey, against {one.grey:.0%}) and {alike} (variety {at.variety:.1f} "
                f"against {one.variety:.1f})")
        if t < 1 and blur == "blurrier" and alike == "more alike":
            text += (": codes near the prior's centre decode to something like the average of "
                     "many digits, not to a typical one")
        parts.append(text)
    return ("For this VAE, " + "; ".join(parts)
            + f". The test digits: {test.grey:.0%} grey, variety {test.variety:.1f}.")


# --- the fair comparison: a plain autoencoder sampled from its own codes ------------------------

@dataclass(frozen=True)
class CodeGaussian:
    """A Gaussian fitted to a model's codes of the training images (their mean and full
    covariance): what a plain autoencoder needs before it can sample at all."""

    mean: np.ndarray          # (k,)
    cov: np.ndarray           # (k, k)
    mean_norm: float          # the codes' mean distance from the origin
    count: int                # training codes it was fitted to

    @property
    def parameters(self) -> int:
        """Numbers fitted: k means and the k (k + 1) / 2 of a symmetric covariance."""
        k = len(self.mean)
        return k + k * (k + 1) // 2

    def codes(self, n: int, *, temperature: float = 1.0, seed: int = 0) -> np.ndarray:
        """n codes mean + A eps with A A^T = cov, where eps are the very draws prior_codes makes
        for this seed and k: the same randomness as the VAE's samples, only shaped by the fit.
        The temperature scales the spread about the mean, as it scales N(0, I)'s."""
        k = len(self.mean)
        eps = prior_codes(n, k, temperature=temperature, seed=seed).double().numpy()  # (n, k)
        # eigh rather than Cholesky: a covariance of codes may be singular (a unit that never
        # varies), and its square root is still defined
        w, v = np.linalg.eigh(self.cov)
        factor = v * np.sqrt(np.clip(w, 0.0, None))                  # (k, k)
        return self.mean + eps @ factor.T


def fit_code_gaussian(model, x: torch.Tensor) -> CodeGaussian:
    """Fit a Gaussian to the codes of x (for a VAE, the posterior means)."""
    codes = encode(model, x).astype(np.float64)                       # (N, k)
    cov = np.atleast_2d(np.cov(codes, rowvar=False))
    return CodeGaussian(mean=codes.mean(axis=0), cov=cov,
                        mean_norm=float(np.linalg.norm(codes, axis=1).mean()),
                        count=len(codes))


def sample_fitted(model, fit: CodeGaussian, n: int, *, temperature: float = 1.0,
                  seed: int = 0) -> torch.Tensor:
    return decode(model, fit.codes(n, temperature=temperature, seed=seed))


@dataclass(frozen=True)
class PosteriorSpread:
    """How a VAE's posteriors q(z|x) = N(mu, sigma^2) sit against the prior, over a set of
    images: each one narrow, their mixture (the aggregate posterior) roughly N(0, I)."""

    sigma: np.ndarray           # (k,) each unit's sigma, root mean square over the images
    kl: np.ndarray              # (k,) each unit's mean KL, nats
    mean_norm: float            # mean length of mu
    aggregate_mean: np.ndarray  # (k,) the aggregate posterior's mean per unit: E[mu_j]
    aggregate_var: np.ndarray   # (k,) and its variance, Var(mu_j) + E[sigma_j^2]

    @property
    def active(self) -> np.ndarray:
        return self.kl > ACTIVE_KL

    @property
    def active_sigma(self) -> float:
        """The active units' sigma (root mean square): the width of one digit's posterior
        along a unit that carries information. Inactive units' sigma is about 1, the prior's."""
        s = self.sigma[self.active] if self.active.any() else self.sigma
        return float(np.sqrt(np.mean(s ** 2)))


@torch.no_grad()
def posterior_spread(model, x: torch.Tensor, *, batch_size: int = 1000) -> PosteriorSpread:
    model.eval()
    device = next(model.parameters()).device
    mus, variances = [], []
    for i in range(0, len(x), batch_size):
        mu, logvar = model.net.posterior(x[i:i + batch_size].to(device))
        mus.append(mu.cpu().double())
        variances.append(logvar.exp().cpu().double())
    mu, var = torch.cat(mus), torch.cat(variances)                   # (N, k) each
    # KL(N(mu, var) || N(0, 1)) per unit, as the model's own gaussian_kl
    kl = (-0.5 * (1 + var.log() - mu.pow(2) - var)).mean(dim=0)
    # the aggregate posterior is the mixture of the q(z|x): by the law of total variance its
    # variance per unit is the spread of the means plus the mean of the variances
    return PosteriorSpread(sigma=var.mean(dim=0).sqrt().numpy(), kl=kl.numpy(),
                           mean_norm=float(mu.norm(dim=1).mean()),
                           aggregate_mean=mu.mean(dim=0).numpy(),
                           aggregate_var=(mu.var(dim=0, unbiased=False)
                                          + var.mean(dim=0)).numpy())


# The scale of two sets of codes differs when their mean lengths differ by more than this factor.
SCALE_GAP = 1.5


def scale_text(dense_k: int, dense: CodeGaussian, vae_k: int, vae_norm: float) -> str:
    """Why the plain decoder turns N(0, I) draws into smudges, from the codes' lengths."""
    prior = prior_mean_norm(dense_k)
    ratio = dense.mean_norm / prior
    where = ("at another scale, where its decoder has seen no code"
             if ratio > SCALE_GAP or ratio < 1 / SCALE_GAP else
             "at about the scale of its own codes")
    vae = f" The VAE's codes, its posterior means, lie {vae_norm:.1f} from it"
    vae += (f", and N(0, I) draws in its k = {vae_k} {prior_mean_norm(vae_k):.1f}."
            if vae_k != dense_k else ".")
    return (f"The plain autoencoder's training codes lie {dense.mean_norm:.1f} from the "
            f"origin on average, while N(0, I) draws in k = {dense_k} lie {prior:.1f} from it."
            f"{vae} So the plain decoder's N(0, I) draws land {where}.")


def fair_text(vae: Look, plain_prior: Look, plain_fitted: Look, test: Look) -> str:
    """The three samplers' looks against the test digits', and what the numbers say."""
    text = (f"Ink per image: the VAE's samples {vae.ink:.0f}, the plain decoder's from N(0, I) "
            f"{plain_prior.ink:.0f}, from its fitted Gaussian {plain_fitted.ink:.0f}; the test "
            f"digits have {test.ink:.0f}. Grey share of the ink: {vae.grey:.0%}, "
            f"{plain_prior.grey:.0%}, {plain_fitted.grey:.0%} (test digits {test.grey:.0%}).")
    prior_gap, fitted_gap = abs(plain_prior.ink - test.ink), abs(plain_fitted.ink - test.ink)
    if fitted_gap < prior_gap / 2:
        text += (" Drawn where its own codes lie, the plain decoder draws digits too: most of "
                 "the smudge was the scale of the codes, not the lack of a prior.")
    elif fitted_gap > prior_gap:
        text += " Its fitted Gaussian does not help here: its codes are far from Gaussian."
    return text


def aggregate_text(spread: PosteriorSpread) -> str:
    """Each q(z|x) is narrow; only their mixture, the aggregate posterior, is near N(0, I)."""
    var = spread.aggregate_var
    near = "roughly" if np.all(np.abs(var - 1) < 0.5) else "only loosely"
    return (f"The KL term pulls each digit's posterior q(z|x) towards N(0, I), but along the "
            f"units that carry information none gets there: a digit's σ is "
            f"{spread.active_sigma:.2f} along them, against the prior's 1. Only the **aggregate "
            f"posterior**, all the training digits' q(z|x) together, is {near} N(0, I): per "
            f"unit its mean is within {np.abs(spread.aggregate_mean).max():.2f} of 0 and its "
            f"variance between {var.min():.2f} and {var.max():.2f}.")


def kl_buys_text(spread: PosteriorSpread, fit: CodeGaussian) -> str:
    """What the KL term really buys, with this pair's numbers."""
    k = len(fit.mean)
    return (f"So what the KL term buys is not digits from random codes as such. It buys **a "
            f"known prior**: the VAE samples from N(0, I) as it is, with nothing fitted after "
            f"training, where the plain autoencoder needed its {fit.count:,} training codes "
            f"encoded and {fit.parameters:,} numbers fitted (a mean and a full covariance in "
            f"k = {k}), and nothing makes its codes Gaussian at all. And it buys **a latent "
            f"with fewer holes**: the VAE's decoder is trained on codes drawn from each q(z|x) "
            f"(σ {spread.active_sigma:.2f} along an active unit), so it learns to decode "
            f"regions around the codes rather than single points, and the KL keeps those "
            f"regions together around the origin. Gaps can remain between them (nothing forces "
            f"the aggregate posterior to fill the prior), so a few random samples may still "
            f"come out broken.")


def interpolate(model, x_from: torch.Tensor, x_to: torch.Tensor, steps: int = 10) -> torch.Tensor:
    """Decode ``steps`` codes on the straight line from encode(x_from) to encode(x_to),
    endpoints included: (steps, 1, 28, 28). For a VAE the codes are the posterior means."""
    if steps < 2:
        raise ValueError("an interpolation needs at least 2 steps")
    z = encode(model, torch.stack([x_from.reshape(x_from.shape[-3:]),
                                   x_to.reshape(x_to.shape[-3:])]))      # (2, k)
    t = np.linspace(0.0, 1.0, steps, dtype=np.float32)[:, None]         # (steps, 1)
    return decode(model, (1 - t) * z[0] + t * z[1])


def nearest_distance(images: torch.Tensor, x: torch.Tensor) -> np.ndarray:
    """Each image's Euclidean distance (pixels in [0, 1]) to its nearest image of x, (N,):
    how far a decoded step is from any real digit."""
    a = images.detach().cpu().float().flatten(1)
    b = x.detach().cpu().float().flatten(1)
    return torch.cdist(a, b).min(dim=1).values.double().numpy()


def path_distances(vae, plain, data, a: int, b: int, steps: int) -> dict[str, np.ndarray]:
    """For the interpolation from test digit a to test digit b: each step's distance from its
    nearest training digit, for the VAE's path and (when ``plain`` is given) the plain
    autoencoder's."""
    ends = data.x_test[[a, b]]
    models = {"VAE": vae, "plain autoencoder": plain}
    return {name: nearest_distance(interpolate(model, ends[0], ends[1], steps), data.x_train)
            for name, model in models.items() if model is not None}


# Two paths stray "about equally" when their farthest steps differ by less than this share.
PATH_TOLERANCE = 0.1


def path_text(paths: dict[str, np.ndarray]) -> str:
    """How far each path's steps stray from the training digits (``nearest_distance`` per
    step, by the model's name), and which strays further, judged by the numbers."""
    parts = [f"the {name}'s path from {d[[0, -1]].mean():.1f} at its ends to {d.max():.1f} at its "
             f"farthest step" for name, d in paths.items()]
    text = ("Distance of each step from its nearest training digit: "
            + "; ".join(parts) + ".")
    if len(paths) == 2:
        (a, da), (b, db) = paths.items()
        if abs(da.max() - db.max()) <= PATH_TOLERANCE * max(da.max(), db.max()):
            text += (" Here the two paths stray about equally: the middle steps blend the two "
                     "digits in both, and a straight line between two codes of either model "
                     "stays about as near to real digits.")
        else:
            far, near = (a, b) if da.max() > db.max() else (b, a)
            text += (f" The {far}'s path strays further from real digits than the {near}'s: "
                     f"its middle crosses codes its decoder has seen less.")
    return text


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
    quantiles from 5% to 95% (for a VAE: Kingma & Welling's inverse-CDF grid, cropped as the
    Keras VAE example crops it); with the test codes (N, 2) it spans their 1st to 99th
    percentiles."""
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


# --- derived results, named for Service.derived: each reads what it needs from the dataset --

def look_of_test_set(data) -> Look:
    """What the first LOOK_ITEMS test digits look like: what samples are compared with."""
    return look(data.x_test[:LOOK_ITEMS])


def spread_on_training_set(model, data) -> PosteriorSpread:
    """posterior_spread of the training set."""
    return posterior_spread(model, data.x_train)


def code_gaussian_on_training_set(model, data) -> CodeGaussian:
    """fit_code_gaussian to the training set's codes."""
    return fit_code_gaussian(model, data.x_train)


def plane_grid(model, codes: np.ndarray | None, n: int) -> ManifoldGrid:
    """manifold_grid of a k = 2 model over its test ``codes`` (None for a VAE: its prior's
    quantiles)."""
    return manifold_grid(model, n, codes=codes)
