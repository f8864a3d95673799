"""Denoising autoencoder: the dense network trained to map a corrupted image back to the clean
one (Vincent et al., "Extracting and composing robust features with denoising autoencoders",
2008). Corruption happens inside ``forward`` in training mode only, so the trainer stays
model-agnostic and evaluation sees the clean input unless asked otherwise."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from aedemo.metrics import psnr
from aedemo.models import register
from aedemo.models.base import AEConfig, Output, hparam, image_bce_with_logits
from aedemo.models.dense import DenseAE
from aedemo.noise import NOISE_KINDS, corrupt


@dataclass(frozen=True)
class DenoisingConfig(AEConfig):
    noise_kind: str = hparam("gaussian", choices=NOISE_KINDS, help="How inputs are corrupted")
    noise_level: float = hparam(0.4, low=0.0, high=1.0,
                                help="Gaussian sigma, or the fraction of pixels hit")


@register("denoising")
class DenoisingAE(DenseAE):
    summary = "Sees a corrupted image, must output the clean one."
    Config = DenoisingConfig

    def corrupt(self, x: torch.Tensor, rng: torch.Generator | None = None) -> torch.Tensor:
        return corrupt(x, self.config.noise_kind, self.config.noise_level, rng)

    def forward(self, x: torch.Tensor, *, rng: torch.Generator | None = None) -> Output:
        noisy = self.corrupt(x, rng) if self.training else x
        z = self.encode(noisy)
        logits = self.decode_logits(z)
        bce = image_bce_with_logits(logits, x)       # the target is the clean image
        return Output(recon=torch.sigmoid(logits), code=z, loss=bce, terms={"recon": bce})

    @torch.no_grad()
    def extra_metrics(self, x: torch.Tensor, rng: torch.Generator) -> dict[str, float]:
        noisy = self.corrupt(x, rng)
        return {"psnr_noisy": psnr(noisy, x).mean().item(),
                "psnr_denoised": psnr(self.reconstruct(noisy), x).mean().item()}
