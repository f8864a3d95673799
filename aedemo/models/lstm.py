"""LSTM sequence autoencoder (Srivastava et al., "Unsupervised learning of video
representations using LSTMs", 2015; Malhotra et al., "LSTM-based encoder-decoder for
multi-sensor anomaly detection", 2016). The encoder LSTM reads the series and its last hidden
state becomes the code; the decoder LSTM gets the code at every step and writes the series back.
A series unlike the training ones is reconstructed badly, which is how it is flagged."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from aedemo.models import register
from aedemo.models.base import AEConfig, Autoencoder, Output, hparam


@dataclass(frozen=True)
class LSTMConfig(AEConfig):
    latent_dim: int = hparam(8, low=2, high=64, help="Bottleneck size k")
    hidden: int = hparam(64, low=8, high=256, help="LSTM hidden units")


@register("lstm")
class LSTMAE(Autoencoder):
    summary = "Reads a time series step by step and writes it back."
    kind = "sequence"
    Config = LSTMConfig

    def __init__(self, config: LSTMConfig):
        super().__init__(config)
        self.encoder = nn.LSTM(1, config.hidden, batch_first=True)
        self.to_code = nn.Linear(config.hidden, config.latent_dim)
        self.decoder = nn.LSTM(config.latent_dim, config.hidden, batch_first=True)
        self.to_value = nn.Linear(config.hidden, 1)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        _, (h, _) = self.encoder(x)                    # x (B, T, 1); h (1, B, hidden)
        return self.to_code(h[-1])                     # (B, k)

    def decode(self, z: torch.Tensor, length: int = 128) -> torch.Tensor:
        steps = z.unsqueeze(1).expand(-1, length, -1)  # (B, T, k): the code at every step
        out, _ = self.decoder(steps)                   # (B, T, hidden)
        return self.to_value(out)                      # (B, T, 1)

    def forward(self, x: torch.Tensor, *, rng: torch.Generator | None = None) -> Output:
        z = self.encode(x)
        recon = self.decode(z, x.shape[1])
        mse = (recon - x).pow(2).mean()
        return Output(recon=recon, code=z, loss=mse, terms={"recon": mse})

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x), x.shape[1])

    def architecture(self) -> list[tuple[str, str]]:
        h = self.config.hidden
        return [("input", "T x 1"), ("LSTM", str(h)), ("code", str(self.latent_dim)),
                ("LSTM", f"T x {h}"), ("output", "T x 1")]
