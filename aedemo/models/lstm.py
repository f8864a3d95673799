"""LSTM sequence autoencoder (Srivastava et al., "Unsupervised learning of video
representations using LSTMs", 2015; Malhotra et al., "LSTM-based encoder-decoder for
multi-sensor anomaly detection", 2016). The encoder LSTM reads the series and its last hidden
state becomes the code; the decoder LSTM starts from a state made from the code, gets the code
and the time position at every step, and writes the series back. A series unlike the training
ones is reconstructed badly, which is how it is flagged."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from aedemo.models import register
from aedemo.models.base import AEConfig, Autoencoder, TakeHome, hparam

# Recurrent nets have occasional exploding gradients; clipping their norm keeps training steady
# (Pascanu et al., "On the difficulty of training recurrent neural networks", 2013).
MAX_GRAD_NORM = 1.0


@dataclass(frozen=True)
class LSTMConfig(AEConfig):
    latent_dim: int = hparam(8, low=2, high=64, help="Bottleneck size k", symbol="k")
    hidden: int = hparam(64, low=8, high=256, help="LSTM hidden units",
                        symbol="hidden units")


def time_features(batch, length, device):
    """(B, T, 2): the sin and cos of each step's position. Without them the decoder sees the
    same input at every step and must count time in its state, which makes it learn far more
    slowly."""
    t = torch.linspace(0, math.pi, length, device=device).view(1, length, 1)
    return torch.cat([t.sin(), t.cos()], dim=-1).expand(batch, length, 2)


class LSTMNet(nn.Module):
    """An LSTM reads the series into a code of k numbers; another LSTM writes it back."""

    def __init__(self, latent_dim=8, hidden=64):
        super().__init__()
        self.encoder = nn.LSTM(1, hidden, batch_first=True)
        self.to_code = nn.Linear(hidden, latent_dim)
        self.to_state = nn.Linear(latent_dim, 2 * hidden)     # the decoder's first (h, c)
        self.decoder = nn.LSTM(latent_dim + 2, hidden, batch_first=True)
        self.to_value = nn.Linear(hidden, 1)

    def encode(self, x):
        _, (h, _) = self.encoder(x)                    # x (B, T, 1); h (1, B, hidden)
        return self.to_code(h[-1])                     # (B, k)

    def decode(self, z, length):
        """The decoder gets the code and the time position at every step."""
        steps = torch.cat([z.unsqueeze(1).expand(-1, length, -1),
                           time_features(len(z), length, z.device)], dim=-1)  # (B, T, k + 2)
        h0, c0 = torch.tanh(self.to_state(z)).chunk(2, dim=-1)           # (B, hidden) each
        out, _ = self.decoder(steps, (h0.unsqueeze(0).contiguous(), c0.unsqueeze(0).contiguous()))
        return self.to_value(out)                      # (B, T, 1)


def series_loss(model, x, rng=None):
    """The mean squared error per value of the series read back."""
    mse = (model.decode(model.encode(x), x.shape[1]) - x).pow(2).mean()
    return mse, {"recon": mse}


@register("lstm")
class LSTMAE(Autoencoder):
    title = "LSTM autoencoder"          # what a page calls it
    summary = "Reads a time series step by step and writes it back."
    kind = "sequence"
    Config = LSTMConfig
    takehome = TakeHome(LSTMNet, series_loss, helpers=("MAX_GRAD_NORM", time_features))
    max_grad_norm = MAX_GRAD_NORM
    # A few thousand short series: small batches and a larger step make it learn in ~20 epochs;
    # at Adam's usual 0.001 with batches of 256 it barely moves from predicting the mean.
    train_defaults = {"lr": 5e-3, "batch_size": 64, "epochs": 20}

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.decode(self.encode(x), x.shape[1])

    def architecture(self) -> list[tuple[str, str]]:
        h = self.config.hidden
        return [("input", "T x 1"), ("LSTM", str(h)), ("code", str(self.latent_dim)),
                ("LSTM", f"T x {h}"), ("output", "T x 1")]
