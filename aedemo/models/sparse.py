"""Sparse autoencoder: an L1 penalty on the code activations pushes most units to zero for any
given input, so each image is explained by a few active units (Ng, "Sparse autoencoder",
CS294A notes, 2011; the L1 form as in Goodfellow et al., Deep Learning, section 14.2.1)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from aedemo.models import register
from aedemo.models.base import AEConfig, Output, hparam, image_bce_with_logits, image_model_code
from aedemo.models.dense import DenseAE

# An activation this small counts as "off" when sparsity is reported.
NEAR_ZERO = 1e-3


@dataclass(frozen=True)
class SparseConfig(AEConfig):
    latent_dim: int = hparam(64, low=2, high=128, help="Bottleneck size k")
    l1: float = hparam(1.0, low=0.0, high=10.0,
                       help="Weight lambda of the L1 penalty on the code")


@register("sparse")
class SparseAE(DenseAE):
    summary = "An L1 penalty keeps most code units at zero."
    Config = SparseConfig

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        # ReLU on the code lets units be exactly zero, which is what L1 rewards.
        return torch.relu(super().encode(x))

    def forward(self, x: torch.Tensor, *, rng: torch.Generator | None = None) -> Output:
        z = self.encode(x)
        logits = self.decode_logits(z)
        bce = image_bce_with_logits(logits, x)
        l1 = z.abs().sum(dim=1).mean()
        return Output(recon=torch.sigmoid(logits), code=z, loss=bce + self.config.l1 * l1,
                      terms={"recon": bce, "l1": l1})

    @classmethod
    def model_code(cls, config: SparseConfig) -> str:
        model = cls._dense_model_code(
            config, code_tail="nn.ReLU(),  # a ReLU code can be exactly zero, which L1 rewards")
        return image_model_code(model, f"""\
def loss_fn(model, x):
    z = model.encode(x)                  # (B, {config.latent_dim}), all >= 0
    # The L1 norm of the code, weighted by lambda: each image may use only a few units.
    return image_bce(model.decode_logits(z), x) + {config.l1!r} * z.abs().sum(dim=1).mean()
""")

    @torch.no_grad()
    def extra_metrics(self, x: torch.Tensor, rng: torch.Generator) -> dict[str, float]:
        return {"sparsity": code_sparsity(self.encode(x))}


def code_sparsity(code: torch.Tensor) -> float:
    """Fraction of code activations that are (near) zero."""
    return (code.abs() < NEAR_ZERO).float().mean().item()
