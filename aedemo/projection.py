"""Linear and non-linear maps of codes to 2D, and PCA as the linear baseline autoencoder.

PCA is the optimal *linear* autoencoder (Baldi & Hornik, 1989): projecting onto the top-k
principal components and back gives the smallest squared error any linear k-dimensional code
can. A non-linear autoencoder should beat it at the same k (Hinton & Salakhutdinov, 2006)."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.decomposition import PCA


def fit_pca(x: torch.Tensor, k: int, seed: int = 0) -> PCA:
    """PCA with k components fitted on images (N, 1, 28, 28) or any (N, ...) tensor."""
    return PCA(n_components=k, random_state=seed).fit(x.flatten(1).numpy())


def pca_reconstruct(pca: PCA, x: torch.Tensor) -> torch.Tensor:
    """Project x onto the components and back, clipped to the pixel range."""
    flat = x.flatten(1).numpy()
    back = pca.inverse_transform(pca.transform(flat))
    return torch.from_numpy(back).float().clamp(0, 1).view_as(x)


def plane(codes: np.ndarray, previous: np.ndarray | None = None) -> np.ndarray:
    """Codes (N, k) as points (N, 2) for a map that is watched as it changes: for k = 2 the
    code's own axes; for k > 2 the top two principal components of these codes, turned to lie
    as close as they can to ``previous`` (the same N points' last positions).

    PCA alone would make the map jump between frames: a component's sign is arbitrary, and two
    components of nearly equal variance swap places, so a nearly unchanged cloud can come out
    mirrored or turned by 90 degrees. Orthogonal Procrustes (Schönemann, 1966) finds the
    rotation or reflection R that minimises ||Y R - previous||; only R is applied, never a
    scale or shift, so what the student sees grow or move is the codes, not the alignment."""
    codes = np.asarray(codes, dtype=np.float64)
    if codes.shape[1] <= 2:
        return np.pad(codes, ((0, 0), (0, 2 - codes.shape[1]))).astype(np.float32)
    centred = codes - codes.mean(axis=0)
    # the right singular vectors are the principal axes, strongest first: (N, k) -> (N, 2)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    points = centred @ vt[:2].T
    if previous is not None and len(previous) == len(points):
        points = points @ procrustes_rotation(points, np.asarray(previous, np.float64))
    return points.astype(np.float32)


def procrustes_rotation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The orthogonal R (d, d) that minimises ||a R - b|| (Frobenius): from the SVD of a^T b =
    U S V^T, R = U V^T (as scipy.linalg.orthogonal_procrustes computes it)."""
    u, _, vt = np.linalg.svd(a.T @ b)
    return u @ vt
