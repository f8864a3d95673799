"""Convolutional autoencoder: strided Conv2d layers downsample, ConvTranspose2d layers upsample
(Masci et al., "Stacked convolutional auto-encoders", 2011). Weight sharing makes it far smaller
than the dense network for the same input, and its filters are local stroke detectors."""

from __future__ import annotations

import torch
from torch import nn

from aedemo.data import IMAGE_SHAPE
from aedemo.models import register
from aedemo.models.base import (
    AEConfig,
    Autoencoder,
    Output,
    image_bce_with_logits,
    image_model_code,
)

CHANNELS = (16, 32)


@register("conv")
class ConvAE(Autoencoder):
    summary = "Convolutions see local strokes; fewer weights, sharper images."
    Config = AEConfig          # the bottleneck size k is all it takes

    def __init__(self, config: AEConfig):
        super().__init__(config)
        c_in, h, w = IMAGE_SHAPE
        c1, c2 = CHANNELS
        self.feature_shape = (c2, h // 4, w // 4)               # two stride-2 layers: 28 -> 7
        flat = c2 * (h // 4) * (w // 4)
        self.conv1 = nn.Conv2d(c_in, c1, 3, stride=2, padding=1)
        self.conv2 = nn.Conv2d(c1, c2, 3, stride=2, padding=1)
        self.to_code = nn.Linear(flat, config.latent_dim)
        self.from_code = nn.Linear(config.latent_dim, flat)
        self.deconv1 = nn.ConvTranspose2d(c2, c1, 3, stride=2, padding=1, output_padding=1)
        self.deconv2 = nn.ConvTranspose2d(c1, c_in, 3, stride=2, padding=1, output_padding=1)

    def feature_maps(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Activations after each conv layer: (B, 16, 14, 14) and (B, 32, 7, 7)."""
        a1 = torch.relu(self.conv1(x))
        a2 = torch.relu(self.conv2(a1))
        return [a1, a2]

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.to_code(self.feature_maps(x)[-1].flatten(1))  # (B, k)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.from_code(z)).view(-1, *self.feature_shape)  # (B, 32, 7, 7)
        h = torch.relu(self.deconv1(h))                                  # (B, 16, 14, 14)
        return self.deconv2(h)                                           # (B, 1, 28, 28)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.decode_logits(z))

    def forward(self, x: torch.Tensor, *, rng: torch.Generator | None = None) -> Output:
        z = self.encode(x)
        logits = self.decode_logits(z)
        bce = image_bce_with_logits(logits, x)
        return Output(recon=torch.sigmoid(logits), code=z, loss=bce, terms={"recon": bce})

    def architecture(self) -> list[tuple[str, str]]:
        c_in, h, w = IMAGE_SHAPE
        c1, c2 = CHANNELS
        return [("input", f"{c_in}x{h}x{w}"), ("conv", f"{c1}x{h // 2}x{w // 2}"),
                ("conv", f"{c2}x{h // 4}x{w // 4}"), ("code", str(self.latent_dim)),
                ("deconv", f"{c1}x{h // 2}x{w // 2}"), ("output", f"{c_in}x{h}x{w}")]

    @classmethod
    def model_code(cls, config: AEConfig) -> str:
        c_in, h, w = IMAGE_SHAPE
        c1, c2 = CHANNELS
        k = config.latent_dim
        features = f"{c2}, {h // 4}, {w // 4}"
        return image_model_code(f'''\
class Model(nn.Module):
    """Two stride-2 convolutions down to a code of {k} numbers, two transposed ones back up."""

    def __init__(self):
        super().__init__()
        # stride 2 halves the size each time: {h} -> {h // 2} -> {h // 4}
        self.conv1 = nn.Conv2d({c_in}, {c1}, 3, stride=2, padding=1)
        self.conv2 = nn.Conv2d({c1}, {c2}, 3, stride=2, padding=1)
        self.to_code = nn.Linear({c2} * {h // 4} * {w // 4}, {k})
        self.from_code = nn.Linear({k}, {c2} * {h // 4} * {w // 4})
        # output_padding=1 makes each layer exactly double the size: {h // 4} -> {h // 2} -> {h}
        self.deconv1 = nn.ConvTranspose2d({c2}, {c1}, 3, stride=2, padding=1, output_padding=1)
        self.deconv2 = nn.ConvTranspose2d({c1}, {c_in}, 3, stride=2, padding=1, output_padding=1)

    def encode(self, x):
        h = torch.relu(self.conv2(torch.relu(self.conv1(x))))     # (B, {features})
        return self.to_code(h.flatten(1))                           # (B, {k})

    def decode_logits(self, z):
        h = torch.relu(self.from_code(z)).view(-1, {features})
        h = torch.relu(self.deconv1(h))                             # (B, {c1}, {h // 2}, {w // 2})
        return self.deconv2(h)                                      # (B, {c_in}, {h}, {w})
''')
