"""Convolutional autoencoder: strided Conv2d layers downsample, ConvTranspose2d layers upsample
(Masci et al., "Stacked convolutional auto-encoders", 2011). Weight sharing makes it far smaller
than the dense network for the same input, and its filters are local stroke detectors."""

from __future__ import annotations

import torch
from torch import nn

from aedemo.models import register
from aedemo.models.base import (
    AEConfig,
    ImageAutoencoder,
    TakeHome,
    image_bce,
    reconstruction_loss,
)


class ConvNet(nn.Module):
    """Two stride-2 convolutions down to a code of k numbers, two transposed ones back up."""

    def __init__(self, latent_dim=16):
        super().__init__()
        # stride 2 halves the size each time: 28 -> 14 -> 7
        self.conv1 = nn.Conv2d(1, 16, 3, stride=2, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, stride=2, padding=1)
        self.to_code = nn.Linear(32 * 7 * 7, latent_dim)
        self.from_code = nn.Linear(latent_dim, 32 * 7 * 7)
        # output_padding=1 makes each layer exactly double the size: 7 -> 14 -> 28
        self.deconv1 = nn.ConvTranspose2d(32, 16, 3, stride=2, padding=1, output_padding=1)
        self.deconv2 = nn.ConvTranspose2d(16, 1, 3, stride=2, padding=1, output_padding=1)

    def feature_maps(self, x):
        """The activations after each convolution: (B, 16, 14, 14) and (B, 32, 7, 7)."""
        a1 = torch.relu(self.conv1(x))
        return [a1, torch.relu(self.conv2(a1))]

    def encode(self, x):
        return self.to_code(self.feature_maps(x)[-1].flatten(1))         # (B, k)

    def decode_logits(self, z):
        h = torch.relu(self.from_code(z)).view(-1, 32, 7, 7)
        h = torch.relu(self.deconv1(h))                                  # (B, 16, 14, 14)
        return self.deconv2(h)                                           # (B, 1, 28, 28)


@register("conv")
class ConvAE(ImageAutoencoder):
    title = "convolutional autoencoder"          # what a page calls it
    summary = "Convolutions see local strokes; fewer weights, sharper images."
    Config = AEConfig          # the bottleneck size k is all it takes
    takehome = TakeHome(ConvNet, reconstruction_loss, helpers=(image_bce,))

    def architecture(self) -> list[tuple[str, str]]:
        return [("input", "1x28x28"), ("conv", "16x14x14"), ("conv", "32x7x7"),
                ("code", str(self.latent_dim)), ("deconv", "16x14x14"), ("output", "1x28x28")]
