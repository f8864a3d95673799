"""Image corruptions for the denoising autoencoder and the Denoising page.

``corrupt`` is also copied into the denoising variant's take-home script (aedemo.codegen), so
it uses only torch and has no annotations a script would have to import for."""

from __future__ import annotations

import torch

NOISE_KINDS = ("gaussian", "salt-pepper", "masking")


def corrupt(x, kind, level, rng=None):
    """Corrupt images in [0, 1]; the result stays in [0, 1]. ``rng`` is a torch.Generator, or
    None for torch's global one.

    gaussian: add N(0, level^2) to every pixel, then clip to [0, 1]. The clip is not neutral:
        on a black pixel (most of an MNIST image) the negative half of the noise is cut to 0,
        so there the noise is rectified and brightens the page on average, by about
        0.4 * level for light noise (aedemo.lessons.denoising.rectified_mean), instead of
        averaging out; on white ink it is cut from above and darkens it.
    salt-pepper: a fraction ``level`` of pixels set to 0 or 1 at random.
    masking: a fraction ``level`` of pixels set to 0 (the ink simply goes missing).
    """
    if kind not in NOISE_KINDS:
        raise ValueError(f"unknown noise kind {kind!r}; choose one of {', '.join(NOISE_KINDS)}")
    if level <= 0:
        return x.clone()
    if kind == "gaussian":
        noise = torch.randn(x.shape, generator=rng, device=x.device, dtype=x.dtype)
        return (x + level * noise).clamp(0, 1)
    hit = torch.rand(x.shape, generator=rng, device=x.device, dtype=x.dtype) < level
    if kind == "masking":
        return x.masked_fill(hit, 0.0)
    salt = torch.rand(x.shape, generator=rng, device=x.device, dtype=x.dtype) < 0.5
    return torch.where(hit, salt.to(x.dtype), x)
