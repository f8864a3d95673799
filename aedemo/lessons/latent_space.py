"""The Latent space page teaches that an autoencoder, never shown a label, puts digits that
look alike at nearby codes: the test set's codes on a 2D map (the code's own axes for k = 2,
else PCA or t-SNE of the codes), and placing a new input (the Draw page's drawing) on that map.
Its figure is ``aedemo.viz.latent_space``; ``encode`` is the codes every lesson reads."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE
from sklearn.neighbors import NearestNeighbors

MAP_ITEMS = 2000          # test images on a latent map: enough to see clusters, quick to draw
NEIGHBOURS = 5            # a new point on a t-SNE map sits at the mean of its neighbours


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
