"""The classic fully connected autoencoder: 784-256-128-k and its mirror image, sigmoid output
(Hinton & Salakhutdinov, "Reducing the dimensionality of data with neural networks", 2006)."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from aedemo.models import register
from aedemo.models.base import (
    AEConfig,
    ImageAutoencoder,
    TakeHome,
    hparam,
    image_bce,
    mlp,
    reconstruction_loss,
)

# Wider than the zoo's largest bottleneck sweep k (64): with a 64-unit layer before the code,
# k = 64 was no better than k = 32 (test MSE 0.0185 against 0.0182 on the offline digits); with
# 128 the error falls at every k (0.0184, 0.0171, 0.0167).
HIDDEN = (256, 128)


@dataclass(frozen=True)
class DenseConfig(AEConfig):
    # up to beyond the image's 784 pixels: an overcomplete code, the Reconstructions page's
    # lesson on why the bottleneck must be narrow
    latent_dim: int = hparam(16, low=2, high=1024, symbol="k",
                             help="Bottleneck size k (784 and above: wider than the image)")


def hidden_widths(latent_dim):
    """The hidden layers between the image and a code of latent_dim: those of HIDDEN at least
    as wide as the code. A wider code gets fewer, so no layer narrower than the code squeezes
    the image on the way: 784-256-128-k up to k = 128, 784-k from k = 256 on."""
    return tuple(w for w in HIDDEN if w >= latent_dim)


class DenseNet(nn.Module):
    """784-256-128-k and its mirror image; the decoder outputs logits."""

    def __init__(self, latent_dim=16):
        super().__init__()
        widths = hidden_widths(latent_dim)
        self.encoder = mlp(784, *widths, latent_dim)
        self.decoder = mlp(latent_dim, *widths[::-1], 784)

    def encode(self, x):
        return self.encoder(x.flatten(1))                  # (B, 1, 28, 28) -> (B, k)

    def decode_logits(self, z):
        return self.decoder(z).view(-1, 1, 28, 28)         # (B, k) -> (B, 1, 28, 28)


@register("dense")
class DenseAE(ImageAutoencoder):
    title = "dense autoencoder"          # what a page calls it
    summary = "Fully connected encoder and decoder: the classic autoencoder."
    Config = DenseConfig
    takehome = TakeHome(DenseNet, reconstruction_loss,
                        helpers=(mlp, image_bce, "HIDDEN", hidden_widths))

    def architecture(self) -> list[tuple[str, str]]:
        return dense_architecture(self.net.encoder, self.net.decoder)


def dense_architecture(encoder: nn.Module, decoder: nn.Module) -> list[tuple[str, str]]:
    """input, the encoder's layers, the code, then the decoder's layers and the output."""
    widths = linear_widths(encoder)
    sizes = [encoder[0].in_features, *widths, *linear_widths(decoder)]
    names = (["input"] + ["encoder"] * (len(widths) - 1) + ["code"]
             + ["decoder"] * (len(sizes) - len(widths) - 2) + ["output"])
    return [(n, str(s)) for n, s in zip(names, sizes)]


def linear_widths(layers: nn.Module) -> list[int]:
    """The output sizes of the Linear layers in ``layers``, in order."""
    return [m.out_features for m in layers.modules() if isinstance(m, nn.Linear)]
