"""The Denoising page teaches that an autoencoder trained to undo corruption learns what digits
look like, and uses it to fill in what the noise hid: a denoising autoencoder (Vincent et al.
2008) against the plain autoencoder, which never saw noise, and against a 3x3 median filter,
the classical non-learned denoiser; each scored by PSNR and SSIM against the clean image.
Its figure is ``aedemo.viz.denoising``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import torch
from scipy.ndimage import median_filter

from aedemo.metrics import psnr, reconstruct, ssim
from aedemo.noise import corrupt

# PSNR against noise level: six levels per kind, from barely visible to most of the image gone.
# The Denoising page's level control offers these same levels, so its table and chart agree.
NOISE_LEVELS = {"gaussian": (0.1, 0.2, 0.3, 0.4, 0.5, 0.7),
                "salt-pepper": (0.05, 0.1, 0.2, 0.3, 0.4, 0.5),
                "masking": (0.1, 0.2, 0.3, 0.4, 0.5, 0.7)}
# Test images the denoising averages are taken over: enough for two-digit precision, and SSIM
# (one skimage call per image) stays well under a second.
SCORE_ITEMS = 500
NOISY, MEDIAN = "noisy input", "median filter"


def describe_noise(kind: str, level: float) -> str:
    """A noise setting in words, for captions and alternative texts."""
    if kind == "gaussian":
        return f"Gaussian noise of sigma {level:g}"
    if kind == "salt-pepper":
        return f"salt-and-pepper noise on {level:.0%} of the pixels"
    return f"{level:.0%} of the pixels masked to black"


def rectified_mean(sigma: float) -> float:
    """The mean brightness that Gaussian noise of ``sigma`` gives a black pixel once the image
    is clipped to [0, 1]. The negative half is cut to 0 (the noise is rectified) and what
    passes 1 is cut to 1, so with z ~ N(0, 1) and a = 1 / sigma,
    E[clip(sigma z, 0, 1)] = sigma (phi(0) - phi(a)) + P(z > a): about 0.4 sigma for small
    sigma. On the black background the noise does not average out: it brightens the page."""
    if sigma <= 0:
        return 0.0
    a = 1.0 / sigma
    density = 1 / math.sqrt(2 * math.pi)                  # phi(0); phi(a) = phi(0) e^(-a^2/2)
    return sigma * density * (1 - math.exp(-a * a / 2)) + 0.5 * math.erfc(a / math.sqrt(2))


def median_denoise(x: torch.Tensor, size: int = 3) -> torch.Tensor:
    """A size x size median filter on each image of (B, 1, H, W) separately; the borders
    reflect, scipy's default, so edge pixels are not pulled towards black."""
    out = median_filter(x.numpy(), size=(1, 1, size, size))
    return torch.from_numpy(out)


@dataclass(frozen=True)
class Denoised:
    """Clean images, their corrupted copies and every method's output, with scores per image."""

    clean: torch.Tensor                  # (N, 1, 28, 28)
    outputs: dict[str, torch.Tensor]     # method -> (N, 1, 28, 28), NOISY first
    psnr: dict[str, np.ndarray]          # method -> (N,) dB against the clean image
    ssim: dict[str, np.ndarray]          # method -> (N,)


def denoise_all(models: Mapping[str, object], noisy: torch.Tensor) -> dict[str, torch.Tensor]:
    """Each model's reconstruction of the noisy images, then the median filter's."""
    outputs = {name: reconstruct(model, noisy) for name, model in models.items()}
    outputs[MEDIAN] = median_denoise(noisy)
    return outputs


def compare_denoisers(models: Mapping[str, object], clean: torch.Tensor, kind: str, level: float,
                      *, seed: int = 0) -> Denoised:
    """Corrupt ``clean`` (seeded), then clean it with every model and the median filter."""
    noisy = corrupt(clean, kind, level, torch.Generator().manual_seed(seed))
    outputs = {NOISY: noisy, **denoise_all(models, noisy)}
    scores = {name: psnr(out, clean).numpy() for name, out in outputs.items()}
    ssims = {name: ssim(out, clean).numpy() for name, out in outputs.items()}
    return Denoised(clean, outputs, scores, ssims)


@dataclass(frozen=True)
class LevelScores:
    """Mean PSNR and SSIM of every method at each noise level of one kind."""

    kind: str
    levels: list[float]
    psnr: dict[str, list[float]]      # method -> mean dB per level, NOISY first
    ssim: dict[str, list[float]]      # method -> mean SSIM per level

    def index(self, level: float) -> int:
        """The position of the level nearest ``level``."""
        return min(range(len(self.levels)), key=lambda j: abs(self.levels[j] - level))

    def table(self, level: float) -> list[dict[str, float | str]]:
        """One row per method at ``level`` (one of ``levels``)."""
        i = self.index(level)
        return [{"method": name, "PSNR (dB)": round(self.psnr[name][i], 2),
                 "SSIM": round(self.ssim[name][i], 3)} for name in self.psnr]

    def gains(self, level: float) -> str:
        """Each method's PSNR against the noisy input's at ``level``, in words: what the table
        shows, said once."""
        i = self.index(level)
        base = self.psnr[NOISY][i]
        parts = [f"{name} {self.psnr[name][i] - base:+.1f} dB" for name in self.psnr
                 if name != NOISY]
        return (f"At level {self.levels[i]:g} the noisy input scores {base:.1f} dB; against "
                f"it: " + ", ".join(parts) + ".")

    def summary(self, trained_level: float | None = None) -> str:
        """The PSNR-against-level chart in words: each line's span, and where each method is
        above the noisy input (where it helps at all)."""
        lo, hi = self.levels[0], self.levels[-1]
        spans = "; ".join(f"{name} from {v[0]:.1f} to {v[-1]:.1f} dB"
                          for name, v in self.psnr.items())
        helps = []
        for name, values in self.psnr.items():
            if name == NOISY:
                continue
            above = [lv for lv, v, b in zip(self.levels, values, self.psnr[NOISY]) if v > b]
            where = ("at every level" if len(above) == len(self.levels) else
                     "at no level" if not above else
                     f"at level{'s' if len(above) > 1 else ''} "
                     + ", ".join(f"{lv:g}" for lv in above))
            helps.append(f"{name} {where}")
        trained = ("" if trained_level is None else
                   f" The denoising AE was trained at level {trained_level:g}, marked on the "
                   f"chart.")
        return (f"Mean PSNR against {self.kind} noise level, from {lo:g} to {hi:g}: {spans}. "
                f"Above the noisy input: " + "; ".join(helps) + "." + trained)


def score_levels(models: Mapping[str, object], clean: torch.Tensor, kind: str,
                 levels: Iterable[float] | None = None, *, seed: int = 0) -> LevelScores:
    """Corrupt ``clean`` at each level (the same seed each time) and score the noisy input,
    each model and the median filter: the numbers behind the PSNR-against-level chart and the
    averages table."""
    levels = list(NOISE_LEVELS[kind] if levels is None else levels)
    psnrs: dict[str, list[float]] = {}
    ssims: dict[str, list[float]] = {}
    for level in levels:
        result = compare_denoisers(models, clean, kind, level, seed=seed)
        for name in result.outputs:
            psnrs.setdefault(name, []).append(float(result.psnr[name].mean()))
            ssims.setdefault(name, []).append(float(result.ssim[name].mean()))
    return LevelScores(kind, levels, psnrs, ssims)


# --- derived results, named for Service.derived: each reads what it needs from the dataset --

def levels_on_test_set(denoiser, plain, data, kind: str, items: int,
                names: tuple[str, str]) -> LevelScores:
    """score_levels of the first ``items`` test digits, for the denoiser and the plain
    autoencoder (None when none is stored) under ``names``."""
    models = {names[0]: denoiser, **({names[1]: plain} if plain is not None else {})}
    return score_levels(models, data.x_test[:items], kind)
