"""Images as the browser should show them: 28x28 digits upscaled by repeating pixels."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch


def to_pixels(images: torch.Tensor | Sequence[torch.Tensor], scale: int = 3) -> list[np.ndarray]:
    """(B, 1, H, W) in [0, 1], or a list of such batches shown in a row, -> B uint8 arrays of
    (H*scale, W*scale), upscaled by repeating pixels so a 28x28 digit stays crisp instead of
    being blurred by the browser."""
    if not isinstance(images, torch.Tensor):
        images = torch.cat(list(images))
    arr = (images.detach().cpu().clamp(0, 1).numpy()[:, 0] * 255).round().astype(np.uint8)
    return [np.kron(a, np.ones((scale, scale), dtype=np.uint8)) for a in arr]


def image_grid(images: torch.Tensor, columns: int, scale: int = 2, pad: int = 2) -> np.ndarray:
    """(B, 1, H, W) -> one uint8 mosaic with ``columns`` images per row and a grey gutter."""
    b, _, h, w = images.shape
    rows = max(1, math.ceil(b / columns))
    tile_h, tile_w = h * scale + pad, w * scale + pad
    out = np.full((rows * tile_h + pad, columns * tile_w + pad), 96, dtype=np.uint8)
    for i, tile in enumerate(to_pixels(images, scale)):
        r, c = divmod(i, columns)
        out[pad + r * tile_h: pad + r * tile_h + h * scale,
            pad + c * tile_w: pad + c * tile_w + w * scale] = tile
    return out
