"""The Latent space page teaches that an autoencoder, never shown a label, puts digits that
look alike at nearby codes: the test set's codes on a 2D map (the code's own axes for k = 2,
else PCA or t-SNE of the codes), and placing a new input (the Draw page's drawing) on that map.
Its figure is ``aedemo.viz.latent_space``; ``encode`` is the codes every lesson reads.

It also sets a plain autoencoder's 2D map beside a VAE's (``code_plane``). The VAE's KL term
pulls each posterior q(z|x) towards the prior N(0, I) (Kingma & Welling, "Auto-Encoding
Variational Bayes", 2014), so its codes sit at the prior's scale and decoding z ~ N(0, I) is a
sampler that needs nothing fitted after training; a plain autoencoder's codes sit wherever
training put them. Decoding N(0, I) draws through the plain decoder is an unfair test (the
draws cover one corner of its map); the fair one draws from a Gaussian fitted to its own
training codes, and what is left is whether those draws land among the codes or in holes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.spatial import cKDTree
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE
from sklearn.neighbors import NearestNeighbors

MAP_ITEMS = 2000          # test images on a latent map: enough to see clusters, quick to draw
NEIGHBOURS = 5            # a new point on a t-SNE map sits at the mean of its neighbours

# --- a plain autoencoder's 2D map beside a VAE's ---
PRIOR_RADII = (1.0, 2.0)  # the prior N(0, I)'s 1 sigma and 2 sigma circles, drawn on both maps
PRIOR_DISC = 2.0          # "inside the prior": within its 2 sigma disc ...
# ... which holds 1 - exp(-r^2 / 2) of a 2D standard Gaussian's mass: 86% at r = 2
PRIOR_DISC_MASS = float(1.0 - np.exp(-PRIOR_DISC ** 2 / 2))
DRAWS = 2000              # codes drawn per sampler to measure where they land
SHOWN = 10                # of which the first are decoded and shown
# A draw lands in a hole when it is farther from every test code than 95% of the test codes
# are from their own nearest neighbour: a distance in the map's own units, so a wide map and a
# narrow one are judged alike.
HOLE_PERCENTILE = 95.0
# A class the draws rarely reach: fewer than half its share of the test set among the classes
# of the draws' nearest test codes.
RARE_SHARE = 0.5


@torch.no_grad()
def encode(model, x: torch.Tensor, *, batch_size: int = 1000) -> np.ndarray:
    """The deterministic codes of x, (N, k), on the CPU."""
    model.eval()
    device = next(model.parameters()).device
    parts = [model.encode(x[i:i + batch_size].to(device)).cpu()
             for i in range(0, len(x), batch_size)]
    return torch.cat(parts).numpy() if parts else np.zeros((0, model.latent_dim), np.float32)


@dataclass(frozen=True)
class LatentMap:
    """Test-set codes and their 2D positions: the code itself when k = 2, else PCA or t-SNE."""

    method: str               # "code" (k = 2), "pca" or "tsne"
    indices: np.ndarray       # (N,) positions in the test set
    labels: np.ndarray        # (N,)
    codes: np.ndarray         # (N, k)
    points: np.ndarray        # (N, 2)
    pca: PCA | None = None

    def place(self, codes: np.ndarray) -> np.ndarray:
        """2D positions for new codes (M, k): exact for the code axes and PCA; for t-SNE, which
        has no mapping for new points, the mean position of the nearest test codes."""
        codes = np.asarray(codes, dtype=np.float32).reshape(-1, self.codes.shape[1])
        if self.method == "code":
            return codes
        if self.method == "pca":
            return self.pca.transform(codes)
        near = NearestNeighbors(n_neighbors=NEIGHBOURS).fit(self.codes).kneighbors(
            codes, return_distance=False)
        return self.points[near].mean(axis=1)


def latent_map(model, data, method: str = "pca", items: int = MAP_ITEMS, *,
               seed: int = 0) -> LatentMap:
    """Encode the first ``items`` test images of the image dataset ``data`` and lay their codes
    out in 2D. ``method`` is ignored for k = 2, whose codes are drawn on their own axes."""
    x_test, y_test = data.x_test, data.y_test
    n = min(items, len(x_test))
    indices = np.arange(n)
    codes = encode(model, x_test[:n])
    labels = y_test[:n].numpy()
    if codes.shape[1] == 2:
        return LatentMap("code", indices, labels, codes, codes.copy())
    if method == "pca":
        pca = PCA(n_components=2, random_state=seed).fit(codes)
        return LatentMap("pca", indices, labels, codes, pca.transform(codes), pca)
    if method == "tsne":
        points = TSNE(n_components=2, perplexity=min(30.0, max(2.0, (n - 1) / 3)), init="pca",
                      random_state=seed).fit_transform(codes)
        return LatentMap("tsne", indices, labels, codes, points)
    raise ValueError(f"unknown projection {method!r}; use 'pca' or 'tsne'")


@torch.no_grad()
def posterior_sigma(model, x: torch.Tensor, *, batch_size: int = 1000) -> float:
    """A VAE's posterior standard deviation, root mean square over x and the code's units: how
    far a sample z ~ q(z|x) typically lies from the mean mu along one axis."""
    model.eval()
    device = next(model.parameters()).device
    variances = [model.net.posterior(x[i:i + batch_size].to(device))[1].exp().cpu()
                 for i in range(0, len(x), batch_size)]
    return float(torch.cat(variances).mean().sqrt())


def describe_map(shown: LatentMap, class_names) -> str:
    """The map in words, for a student who cannot see it: how many codes, and which classes'
    centres lie farthest apart and closest together on it."""
    classes = [int(c) for c in np.unique(shown.labels)]
    view = {"code": "the code's own axes", "pca": "a PCA view of the codes",
            "tsne": "a t-SNE view of the codes"}[shown.method]
    text = f"{len(shown.points):,} test digits on {view}."
    if len(classes) < 2:
        return text
    centres = np.stack([shown.points[shown.labels == c].mean(axis=0) for c in classes])
    gaps = np.linalg.norm(centres[:, None] - centres[None], axis=-1)      # (C, C)
    pairs = [(gaps[i, j], classes[i], classes[j])
             for i in range(len(classes)) for j in range(i + 1, len(classes))]
    far, near = max(pairs), min(pairs)
    return (text + f" The centres of the {_name(class_names, far[1])}s and the "
            f"{_name(class_names, far[2])}s lie farthest apart; those of the "
            f"{_name(class_names, near[1])}s and the {_name(class_names, near[2])}s closest.")


def _name(class_names, c: int) -> str:
    return class_names[c] if c < len(class_names) else str(c)


def _listing(items: list[str], joint: str = "or") -> str:
    """"a", "a or b", "a, b or c"."""
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} {joint} {items[-1]}"


# --- a plain autoencoder's 2D map beside a VAE's -------------------------------------------

@dataclass(frozen=True)
class Draws:
    """Codes drawn from one distribution, where they land on a model's map, and the first few
    decoded. The decoded images are Bernoulli means (each pixel's probability), not draws."""

    source: str               # "N(0, I)" or "fitted Gaussian"
    codes: np.ndarray         # (DRAWS, 2)
    images: torch.Tensor      # (SHOWN, 1, 28, 28): the first codes, decoded
    near_class: np.ndarray    # (DRAWS,) the class of each draw's nearest test code
    holes: float              # share of the draws that land in a hole (see HOLE_PERCENTILE)
    share: np.ndarray         # (C,) share of the draws whose nearest test code is of each class
    rare: tuple[int, ...]     # classes the draws rarely reach (see RARE_SHARE)


@dataclass(frozen=True)
class CodePlane:
    """A model with a 2D code: its test codes (for a VAE the posterior means mu), how widely
    they spread against the prior, a Gaussian fitted to its training codes, and draws."""

    map: LatentMap            # method "code": the test codes on their own axes
    is_vae: bool
    mean_norm: float          # mean distance of a test code from the origin
    in_disc: float            # share of the test codes inside the prior's 2 sigma disc
    gap: float                # HOLE_PERCENTILE of the test codes' nearest-neighbour distances
    mean: np.ndarray          # (2,) of the training codes
    cov: np.ndarray           # (2, 2) of the training codes
    train_count: int
    class_share: np.ndarray   # (C,) each class's share of the test codes on the map
    draws: tuple[Draws, ...]  # a VAE: N(0, I); a plain model: the fitted Gaussian, N(0, I)
    sigma: float | None       # a VAE's posterior sigma (root mean square): how far a sample
    #                           z ~ q(z|x) lies from its mu along each axis; None otherwise

    def draws_from(self, source: str) -> Draws:
        return next(d for d in self.draws if d.source == source)


PRIOR, FITTED = "N(0, I)", "fitted Gaussian"


def code_plane(model, data, items: int = MAP_ITEMS, draws: int = DRAWS, shown: int = SHOWN,
               *, seed: int = 0) -> CodePlane:
    """The map of a 2D code beside the prior, and codes drawn to decode: for a VAE (a model
    with a posterior q(z|x)) from its prior; for a plain autoencoder from a Gaussian fitted to
    its training codes (mean and covariance) and, the unfair test, from N(0, I). Every sampler
    transforms the same standard normal draws (seeded), so the two models see the same ones."""
    # generate imports encode from this module: imported here, when both are loaded
    from aedemo.lessons.generate import decode, fit_code_gaussian, prior_codes

    if model.latent_dim != 2:
        raise ValueError(f"a code plane needs a 2D code, not k = {model.latent_dim}")
    shown_map = latent_map(model, data, "code", items)
    codes = shown_map.codes.astype(np.float64)
    # the Gaussian the Generate page fits to a plain autoencoder's codes, and its draws
    fit = fit_code_gaussian(model, data.x_train)
    tree = cKDTree(codes)
    # each test code's nearest other test code: k = 2, the first is itself
    gap = float(np.percentile(tree.query(codes, k=2)[0][:, 1], HOLE_PERCENTILE))
    is_vae = hasattr(model.net, "posterior")
    eps = prior_codes(draws, 2, seed=seed).numpy().astype(np.float64)      # (draws, 2)
    samplers = {PRIOR: eps} if is_vae else {FITTED: fit.codes(draws, seed=seed), PRIOR: eps}
    n_classes = max(len(data.classes), int(shown_map.labels.max()) + 1)
    test_share = np.bincount(shown_map.labels, minlength=n_classes) / len(shown_map.labels)
    found = []
    for source, z in samplers.items():
        distance, nearest = tree.query(z)
        near_class = shown_map.labels[nearest]
        share = np.bincount(near_class, minlength=n_classes) / len(z)
        rare = tuple(int(c) for c in np.flatnonzero(
            (test_share > 0) & (share < RARE_SHARE * test_share)))
        found.append(Draws(source, z.astype(np.float32), decode(model, z[:shown]), near_class,
                           float(np.mean(distance > gap)), share, rare))
    sigma = posterior_sigma(model, data.x_test[:items]) if is_vae else None
    norms = np.linalg.norm(codes, axis=1)
    return CodePlane(shown_map, is_vae, float(norms.mean()),
                     float(np.mean(norms <= PRIOR_DISC)), gap, fit.mean, fit.cov, fit.count,
                     test_share, tuple(found), sigma)


def describe_plane(plane: CodePlane) -> str:
    """How widely a map's codes spread against the prior, in one sentence."""
    what = "posterior means" if plane.is_vae else "codes"
    return (f"Mean distance of its test {what} from the origin {plane.mean_norm:.2f}; "
            f"{plane.in_disc:.0%} of them lie inside the prior's 2σ circle (N(0, I) itself puts "
            f"{PRIOR_DISC_MASS:.0%} of its draws there).")


def describe_draws(draws: Draws, plane: CodePlane, class_names) -> str:
    """Where one sampler's draws land on the map, in one sentence: the share in holes, and the
    classes they rarely reach (by each draw's nearest test code)."""
    n = len(draws.codes)
    text = (f"{draws.holes:.0%} of {n:,} such draws land in a hole (farther from every test "
            f"code than {HOLE_PERCENTILE:.0f}% of the test codes are from their nearest "
            f"neighbour, {plane.gap:.2f} here)")
    if draws.rare:
        names = _listing([_name(class_names, c) for c in draws.rare])
        shares = _listing([f"{draws.share[c]:.0%}" for c in draws.rare], "and")
        usual = np.mean([plane.class_share[c] for c in draws.rare])
        return (text + f"; their nearest test code is rarely a {names} ({shares} of the "
                f"draws), against about {usual:.0%} of the test codes each.")
    least = int(np.argmin(draws.share))
    return (text + f"; they reach every class, the least often a {_name(class_names, least)} "
            f"({draws.share[least]:.0%} of the draws).")


# --- derived results, named for Service.derived: each reads what it needs from the dataset --

def posterior_sigma_on_test_set(model, data, items: int) -> float:
    """posterior_sigma of the first ``items`` test digits."""
    return posterior_sigma(model, data.x_test[:items])

