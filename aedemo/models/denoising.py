"""Denoising autoencoder: the dense network trained to map a corrupted image back to the clean
one (Vincent et al., "Extracting and composing robust features with denoising autoencoders",
2008). Corruption happens inside the loss in training mode only, so the trainer stays
model-agnostic and evaluation sees the clean input unless asked otherwise."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from aedemo.metrics import psnr
from aedemo.models import register
from aedemo.models.base import AEConfig, ImageAutoencoder, TakeHome, hparam, image_bce, mlp
from aedemo.models.dense import DenseAE, DenseNet, hidden_widths
from aedemo.noise import NOISE_KINDS, corrupt


@dataclass(frozen=True)
class DenoisingConfig(AEConfig):
    noise_kind: str = hparam("gaussian", choices=NOISE_KINDS, help="How inputs are corrupted",
                           symbol="noise")
    noise_level: float = hparam(0.4, low=0.0, high=1.0, symbol="noise level",
                                help="Gaussian sigma, or the fraction of pixels hit")


class DenoisingNet(DenseNet):
    """The dense network, and the corruption its inputs get while it trains."""

    def __init__(self, latent_dim=16, noise_kind="gaussian", noise_level=0.4):
        super().__init__(latent_dim)
        self.noise_kind = noise_kind
        self.noise_level = noise_level


def denoising_loss(model, x, rng=None):
    """The network sees a corrupted image but is scored against the clean one, so it cannot
    just copy its input: it has to learn what clean images look like. It is tested on clean
    images, as any autoencoder is."""
    seen = corrupt(x, model.noise_kind, model.noise_level, rng) if model.training else x
    recon = image_bce(model.decode_logits(model.encode(seen)), x)
    return recon, {"recon": recon}


@register("denoising")
class DenoisingAE(ImageAutoencoder):
    title = "denoising autoencoder"          # what a page calls it
    summary = "Sees a corrupted image, must output the clean one."
    Config = DenoisingConfig
    takehome = TakeHome(DenoisingNet, denoising_loss,
                        helpers=(mlp, image_bce, "HIDDEN", hidden_widths, DenseNet,
                                 "NOISE_KINDS", corrupt))

    architecture = DenseAE.architecture

    @torch.no_grad()
    def extra_metrics(self, x: torch.Tensor, rng: torch.Generator) -> dict[str, float]:
        noisy = corrupt(x, self.config.noise_kind, self.config.noise_level, rng)
        return {"psnr_noisy": psnr(noisy, x).mean().item(),
                "psnr_denoised": psnr(self.reconstruct(noisy), x).mean().item()}
