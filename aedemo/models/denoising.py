"""Denoising autoencoder: the dense network trained to map a corrupted image back to the clean
one (Vincent et al., "Extracting and composing robust features with denoising autoencoders",
2008). Corruption happens inside ``forward`` in training mode only, so the trainer stays
model-agnostic and evaluation sees the clean input unless asked otherwise."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from aedemo.metrics import psnr
from aedemo.models import register
from aedemo.models.base import AEConfig, Output, hparam, image_bce_with_logits, image_model_code
from aedemo.models.dense import DenseAE
from aedemo.noise import NOISE_KINDS, corrupt

# aedemo.noise.corrupt as one expression per kind, for model_code; {level} is filled in.
_NOISE_CODE = {
    "gaussian": ("(x + {level} * torch.randn_like(x)).clamp(0, 1)",
                 "gaussian noise of sigma {level}, clipped to [0, 1]"),
    "salt-pepper": ("torch.where(torch.rand_like(x) < {level}, "
                    "(torch.rand_like(x) < 0.5).float(), x)",
                    "{level:.0%} of the pixels set to 0 or 1 at random"),
    "masking": ("x.masked_fill(torch.rand_like(x) < {level}, 0.0)",
                "{level:.0%} of the pixels set to 0, as if the ink went missing"),
}


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

    @classmethod
    def model_code(cls, config: DenoisingConfig) -> str:
        expression, note = (text.format(level=config.noise_level)
                            for text in _NOISE_CODE[config.noise_kind])
        return image_model_code(cls._dense_model_code(config), f"""\
def loss_fn(model, x):
    # The network sees a corrupted image but is scored against the clean one, so it cannot
    # just copy its input: it has to learn what clean images look like.
    # The corruption: {note}.
    noisy = {expression}
    return image_bce(model.decode_logits(model.encode(noisy)), x)
""")
