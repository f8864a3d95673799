"""Linear and non-linear maps of codes to 2D, and PCA as the linear baseline autoencoder.

PCA is the optimal *linear* autoencoder (Baldi & Hornik, 1989): projecting onto the top-k
principal components and back gives the smallest squared error any linear k-dimensional code
can. A non-linear autoencoder should beat it at the same k (Hinton & Salakhutdinov, 2006)."""

from __future__ import annotations

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
