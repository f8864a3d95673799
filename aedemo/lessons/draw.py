"""The Draw page teaches that an autoencoder copies well only what resembles its training
digits: a digit the user drew (already framed as MNIST by aedemo.preprocess) sent through the
stored models, placed on a model's latent map, scored against the test set's reconstruction
errors, and matched with its nearest training digits. Its figures are ``aedemo.viz.draw``.

Everything that runs over a whole dataset (the map, the test errors, the training codes) is
``model_views``, which the page has computed once per model (``Service.derived``); per drawing
only one small forward pass per model runs. The drawing itself outlives a reload in the server's
memory of each browser as plain lists of numbers (``finite_rows``, ``input_rows``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from aedemo.data import IMAGE_PIXELS
from aedemo.lessons import latent_space
from aedemo.lessons.anomaly import ordinal, percentile_of
from aedemo.metrics import mse_per_item, reconstruct, reconstruction_errors
from aedemo.models import variant_names
from aedemo.preprocess import FRAME, PAD_MAX_CHARS, PAD_MAX_POINTS, PAD_SIZE
from aedemo.store import StoredModel

PREFERRED_K = 16          # the zoo's common bottleneck: models at this k compare fairly
UNUSUAL_PERCENTILE = 95   # above this share of test errors a drawing is called unusual
# A copy with less than this share of the drawing's ink is faint: the model could not say what
# it saw and drew a dim average, whose error is low only because the drawing has little ink.
FAINT_INK = 0.5
NEAREST = 5


@dataclass(frozen=True)
class Reconstruction:
    entry: StoredModel
    image: torch.Tensor       # (1, 1, 28, 28)
    mse: float

    @property
    def caption(self) -> str:
        return f"{self.entry.spec.variant} k={self.entry.spec.latent_dim} · MSE {self.mse:.4f}"

    @property
    def alt(self) -> str:
        """The picture in words, for a screen reader."""
        return (f"your drawing reconstructed by {self.entry.spec.variant} "
                f"k = {self.entry.spec.latent_dim}, MSE {self.mse:.4f}")


def nearest_k(m: StoredModel) -> tuple[int, int]:
    """The row's wish, as ``Service.models(prefer=...)`` takes it: a bottleneck near PREFERRED_K,
    where the variants compare fairly, then the variant's own settings: the zoo's controls (a
    sparse code without its penalty, VAEs at beta 0.25 and 4) speak for their lesson, not for
    their variant. A wish only: a pinned model of another k comes first."""
    return abs(m.spec.latent_dim - PREFERRED_K), len(m.spec.changed_hparams())


def one_per_variant(entries: Sequence[StoredModel]) -> list[StoredModel]:
    """The first model of each variant in ``entries``, the variants in the registry's order.
    ``entries`` come in ``Service.models``' order with ``prefer=nearest_k``, so the first of a
    variant is what a pin means there: the teacher's pinned model of that variant, whatever its
    k, else the zoo's nearest k = 16 (the newest on a tie)."""
    first: dict[str, StoredModel] = {}
    for m in entries:
        first.setdefault(m.spec.variant, m)
    return [first[v] for v in variant_names() if v in first]


def dense_sweep(entries: Sequence[StoredModel]) -> dict[int, StoredModel]:
    """The stored dense models by bottleneck size k, the newest for each k, k ascending. A
    code as wide as the image or wider (k >= IMAGE_PIXELS) is no bottleneck: such a model can
    learn to copy anything, a scribble too, so it is left out of the sweep."""
    by_k: dict[int, StoredModel] = {}
    for m in entries:
        if m.spec.variant == "dense" and m.spec.latent_dim < IMAGE_PIXELS:
            by_k.setdefault(m.spec.latent_dim, m)
    return dict(sorted(by_k.items()))


def reconstruct_with_each(models: Sequence[tuple[StoredModel, object]],
                          x: torch.Tensor) -> list[Reconstruction]:
    """x through each (entry, loaded model) pair, in order."""
    out = []
    for entry, model in models:
        recon = reconstruct(model, x)
        out.append(Reconstruction(entry, recon, float(mse_per_item(recon, x)[0])))
    return out


def describe_percentile(percentile: float, ink_kept: float = 1.0,
                        unusual_above: float = UNUSUAL_PERCENTILE) -> str:
    """The verdict on a drawing, in plain words: its reconstruction error's percentile among
    the test set's, and whether the copy kept the drawing's ink (``ink_kept``, a share)."""
    rank = ordinal(int(round(percentile)))
    if percentile >= unusual_above:
        return (f"**Unusual.** Its reconstruction error is higher than that of "
                f"{percentile:.0f}% of the test digits: the model has seen little like it. (A "
                f"scribble, a letter, or a digit written very differently does this.)")
    if ink_kept < FAINT_INK:
        return (f"**A faint copy.** The model gives back only {ink_kept:.0%} of your "
                f"drawing's ink: it could not tell what this is and drew a dim guess. The error "
                f"({rank} percentile) is low only because there is little ink to miss.")
    return (f"**Looks like the training digits.** The model rebuilds it better than "
            f"{100 - percentile:.0f}% of the test digits: its error is at the {rank} "
            f"percentile, below the {ordinal(int(unusual_above))} that would count as unusual.")


@dataclass(frozen=True)
class ModelViews:
    """What one model needs, computed once, to place a drawing among the dataset."""

    latent: latent_space.LatentMap       # test-set codes on a 2D map
    test_errors: np.ndarray              # (N_test,) reconstruction MSE of every test image
    train_codes: np.ndarray              # (N_train, k) float64, the training set's codes
    train_norms: np.ndarray              # (N_train,) their squared lengths, for ``nearest``

    def nearest(self, code: np.ndarray, n: int = NEAREST) -> tuple[np.ndarray, np.ndarray]:
        """Indices into the training set of the ``n`` codes nearest ``code`` (1, k), and their
        Euclidean distances, nearest first. One query against every training code by brute
        force, |a - b|^2 = |a|^2 - 2 a.b + |b|^2 with the training codes' lengths kept: about
        0.5 ms of CPU for 60,000 codes of 16, where scikit-learn's index took 28 ms a query
        (its parallel search's set-up) and NumPy's ``@`` 8 ms (BLAS waking its threads for one
        matrix-vector product; einsum stays on this thread)."""
        q = np.asarray(code, dtype=np.float64).reshape(-1)
        # float64: in float32 the difference of large lengths loses the small distances
        squared = (self.train_norms - 2.0 * np.einsum("ij,j->i", self.train_codes, q)
                   + float(q @ q))                                          # (N_train,)
        n = min(n, len(squared))
        near = np.argpartition(squared, n - 1)[:n] if n < len(squared) else np.arange(n)
        near = near[np.lexsort((near, squared[near]))]      # nearest first, ties by index
        return near, np.sqrt(np.maximum(squared[near], 0.0))


def model_views(model, data) -> ModelViews:
    """The latent map (PCA, or the code's own axes when k = 2), the test errors and the
    training set's codes to find a drawing's nearest neighbours among, for ``model`` on the
    image dataset ``data``."""
    latent = latent_space.latent_map(model, data, "pca")
    errors = reconstruction_errors(model, data.x_test).numpy()
    train_codes = np.ascontiguousarray(latent_space.encode(model, data.x_train), np.float64)
    return ModelViews(latent=latent, test_errors=errors, train_codes=train_codes,
                      train_norms=np.einsum("ij,ij->i", train_codes, train_codes))


@dataclass(frozen=True)
class Placement:
    """A drawing seen through one model."""

    point: np.ndarray            # (1, 2) on the latent map
    error: float
    percentile: float            # share of test errors below the drawing's, in percent
    ink_kept: float              # the copy's ink as a share of the drawing's
    neighbours: np.ndarray       # training-set indices, nearest first
    distances: np.ndarray


@torch.no_grad()
def place(model, views: ModelViews, x: torch.Tensor, n: int = NEAREST) -> Placement:
    """Where the drawing x (1, 1, 28, 28) lands for ``model``: on the map, among the test
    errors, and among the training digits. The code is computed once and decoded (the model's
    ``reconstruct`` is ``decode(encode(x))``, the VAE's with its mean code)."""
    model.eval()
    z = model.encode(x)                                             # (1, k)
    recon = model.decode(z)                                         # (1, 1, 28, 28)
    code = z.numpy()
    error = float(mse_per_item(recon, x)[0])
    indices, distances = views.nearest(code, n)
    return Placement(point=views.latent.place(code), error=error,
                     percentile=percentile_of(error, views.test_errors),
                     ink_kept=float(recon.sum() / x.sum().clamp_min(1e-6)),
                     neighbours=indices, distances=distances)


MAP_NEIGHBOURS = 25       # test digits around the drawing's star that the map's summary counts


def map_summary(latent: latent_space.LatentMap, point: np.ndarray,
                class_names: Sequence[str], n: int = MAP_NEIGHBOURS) -> str:
    """The latent map with the drawing's star, in words: how many test digits it shows, where
    the star is and which digits are its nearest neighbours on the map (the ``n`` nearest
    points, as the eye sees them there)."""
    xy = np.asarray(point, dtype=float).reshape(2)
    n = min(n, len(latent.points))
    nearest = np.argsort(np.linalg.norm(latent.points - xy, axis=1), kind="stable")[:n]
    counts = np.bincount(latent.labels[nearest], minlength=len(class_names))
    order = np.argsort(-counts, kind="stable")
    most = [f"{class_names[c]} ({counts[c]})" for c in order[:3] if counts[c]]
    listed = most[0] if len(most) == 1 else f"{', '.join(most[:-1])} and {most[-1]}"
    axes = ("its two code numbers" if latent.method == "code" else
            "their first two principal components")
    return (f"{len(latent.points):,} test digits' codes, placed by {axes} and coloured by digit. "
            f"Your drawing's star is at ({xy[0]:.2f}, {xy[1]:.2f}); among the {n} test digits "
            f"nearest it on the map the most common are {listed}.")


def errors_summary(test_errors: np.ndarray, error: float, percentile: float) -> str:
    """The histogram of the test digits' errors with the drawing's line, in words."""
    errors = np.asarray(test_errors, dtype=float)
    return (f"Reconstruction errors (MSE) of the {len(errors):,} test digits, from "
            f"{errors.min():.4f} to {errors.max():.4f}, median {np.median(errors):.4f}. Your "
            f"drawing's error, {error:.4f}, is higher than {percentile:.0f}% of them.")


# --- the drawing, kept for the browser across reloads ------------------------------------------

def finite_rows(value: Any) -> list[list[float]] | None:
    """``value`` when it is a list of lists of finite numbers, else None: the pad's strokes
    ([[x0, y0, x1, y1, ...], ...]) or a framed input's rows. What a browser sent, or the server's
    memory gives back, is checked before it is kept or drawn (JSON has no NaN: a browser's NaN
    arrives as null, and is refused here with anything else that is not a number)."""
    if not isinstance(value, list) or not all(isinstance(row, list) for row in value):
        return None
    for row in value:
        for v in row:
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                return None
            try:
                if not math.isfinite(v):
                    return None
            except OverflowError:            # an int too large for a float
                return None
    return value


def pad_drawing(value: Any) -> dict[str, Any] | None:
    """``value`` when it is what the drawing pad sends, else None: {"png": a data URL no longer
    than the pad's canvas makes, or None, "strokes": at most PAD_MAX_POINTS points in all, each
    stroke [x0, y0, x1, y1, ...] with at least one point, every number finite and on the pad}.
    The counts are checked before any number is looked at: a browser may send a million empty
    strokes, which Python holds at some 25 times their size."""
    if not isinstance(value, dict) or set(value) != {"png", "strokes"}:
        return None
    png, strokes = value["png"], value["strokes"]
    if png is not None and not (isinstance(png, str) and len(png) <= PAD_MAX_CHARS):
        return None
    if not isinstance(strokes, list) or len(strokes) > PAD_MAX_POINTS:
        return None
    numbers = 0
    for stroke in strokes:
        if not isinstance(stroke, list) or not stroke or len(stroke) % 2:
            return None
        numbers += len(stroke)
        if numbers > 2 * PAD_MAX_POINTS:
            return None
    if finite_rows(strokes) is None or not all(0 <= v <= PAD_SIZE for row in strokes
                                                 for v in row):
        return None
    return value


def input_rows(x: torch.Tensor) -> list[list[float]]:
    """A framed input (1, 1, 28, 28) as 28 rows of 28 numbers, as the server's memory keeps it
    (JSON); ``input_from_rows`` gives back the very tensor (float32 values are exact doubles)."""
    return x.reshape(FRAME, FRAME).tolist()


def input_from_rows(value: Any) -> torch.Tensor | None:
    """``input_rows`` undone: the framed input (1, 1, 28, 28), or None for anything other than
    28 rows of 28 finite numbers."""
    rows = finite_rows(value)
    if rows is None or len(rows) != FRAME or any(len(row) != FRAME for row in rows):
        return None
    return torch.tensor(rows, dtype=torch.float32).reshape(1, 1, FRAME, FRAME)
