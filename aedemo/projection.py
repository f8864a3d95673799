"""Linear and non-linear maps of codes to 2D, and PCA as the linear baseline autoencoder.

PCA is the optimal *linear* autoencoder (Baldi & Hornik, 1989): projecting onto the top-k
principal components and back gives the smallest squared error any linear k-dimensional code
can. A non-linear autoencoder should beat it at the same k (Hinton & Salakhutdinov, 2006)."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE


def fit_pca(x: torch.Tensor, k: int, seed: int = 0) -> PCA:
    """PCA with k components fitted on images (N, 1, 28, 28) or any (N, ...) tensor."""
    return PCA(n_components=k, random_state=seed).fit(x.flatten(1).numpy())


def pca_reconstruct(pca: PCA, x: torch.Tensor) -> torch.Tensor:
    """Project x onto the components and back, clipped to the pixel range."""
    flat = x.flatten(1).numpy()
    back = pca.inverse_transform(pca.transform(flat))
    return torch.from_numpy(back).float().clamp(0, 1).view_as(x)


def to_2d(codes: np.ndarray, method: str = "pca", seed: int = 0) -> np.ndarray:
    """(N, k) codes -> (N, 2): the codes themselves when k = 2, else PCA or t-SNE."""
    codes = np.asarray(codes, dtype=np.float32)
    if codes.shape[1] == 2 and method != "tsne":
        return codes
    if method == "pca":
        return PCA(n_components=2, random_state=seed).fit_transform(codes)
    if method == "tsne":
        perplexity = min(30.0, max(2.0, (len(codes) - 1) / 3))
        return TSNE(n_components=2, perplexity=perplexity, init="pca",
                    random_state=seed).fit_transform(codes)
    raise ValueError(f"unknown projection {method!r}; use 'pca' or 'tsne'")
