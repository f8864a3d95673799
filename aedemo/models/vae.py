"""Variational autoencoder (Kingma & Welling, "Auto-Encoding Variational Bayes", 2014).

The encoder gives a Gaussian q(z|x) = N(mu, diag(exp(logvar))); a code is drawn from it with the
reparameterization z = mu + sigma * eps so gradients flow through the sampling. The loss is the
negative ELBO with a weight beta on its KL part (Higgins et al., beta-VAE, 2017); beta = 1 is
the plain VAE. Because the KL pulls q(z|x) towards the prior N(0, I), decoding z ~ N(0, I)
gives plausible new images."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from aedemo.data import IMAGE_SHAPE
from aedemo.models import register
from aedemo.models.base import (
    AEConfig,
    Autoencoder,
    Output,
    hparam,
    image_bce_with_logits,
    image_model_code,
)
from aedemo.models.dense import mlp, mlp_code

# One hidden layer of 400, as in the pytorch/examples VAE that the quality benchmark compares to.
HIDDEN = 400
# A code unit whose average KL is below this (nats) carries no information: it is "inactive"
# (Burda et al., "Importance Weighted Autoencoders", 2016, use a variance criterion to that end).
ACTIVE_KL = 0.01


@dataclass(frozen=True)
class VAEConfig(AEConfig):
    beta: float = hparam(1.0, low=0.0, high=10.0, help="Weight of the KL term (beta-VAE)")


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, 1)) per dimension, in closed form:
    -1/2 (1 + logvar - mu^2 - exp(logvar)) (Kingma & Welling 2014, Appendix B)."""
    return -0.5 * (1 + logvar - mu.pow(2) - logvar.exp())


@register("vae")
class VAE(Autoencoder):
    summary = "Encodes a distribution, not a point; decoding N(0, I) samples makes new images."
    Config = VAEConfig

    def __init__(self, config: VAEConfig):
        super().__init__(config)
        pixels = math.prod(IMAGE_SHAPE)
        k = config.latent_dim
        self.body = nn.Sequential(nn.Linear(pixels, HIDDEN), nn.ReLU())
        self.to_mu = nn.Linear(HIDDEN, k)
        self.to_logvar = nn.Linear(HIDDEN, k)
        self.decoder = mlp([k, HIDDEN, pixels])                  # logits

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.body(x.flatten(1))                              # (B, 400)
        return self.to_mu(h), self.to_logvar(h)                  # (B, k) each

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The posterior mean: the deterministic code used for maps and reconstructions."""
        return self.posterior(x)[0]

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.decoder(z)).view(-1, *IMAGE_SHAPE)

    def forward(self, x: torch.Tensor, *, rng: torch.Generator | None = None) -> Output:
        mu, logvar = self.posterior(x)
        eps = torch.randn(mu.shape, generator=rng, device=mu.device, dtype=mu.dtype)
        z = mu + (0.5 * logvar).exp() * eps                      # reparameterization
        logits = self.decoder(z).view(-1, *IMAGE_SHAPE)
        recon = image_bce_with_logits(logits, x)
        kl = gaussian_kl(mu, logvar).sum(dim=1).mean()
        return Output(recon=torch.sigmoid(logits), code=mu, loss=recon + self.config.beta * kl,
                      terms={"recon": recon, "kl": kl})

    @torch.no_grad()
    def sample(self, n: int, *, temperature: float = 1.0,
               rng: torch.Generator | None = None) -> torch.Tensor:
        """n new images decoded from z ~ N(0, temperature^2 I)."""
        device = next(self.parameters()).device
        z = torch.randn(n, self.latent_dim, generator=rng, device=device) * temperature
        return self.decode(z)

    @torch.no_grad()
    def kl_per_dimension(self, x: torch.Tensor) -> torch.Tensor:
        """Average KL of each code unit over x, shape (k,): which units carry information."""
        mu, logvar = self.posterior(x)
        return gaussian_kl(mu, logvar).mean(dim=0)

    @torch.no_grad()
    def extra_metrics(self, x: torch.Tensor, rng: torch.Generator) -> dict[str, float]:
        out = self.forward(x, rng=rng)
        kl_dims = self.kl_per_dimension(x)
        return {"kl": out.terms["kl"].item(),
                # negative ELBO, always with beta = 1, so it is comparable across betas
                "elbo": (out.terms["recon"] + out.terms["kl"]).item(),
                "active_units": int((kl_dims > ACTIVE_KL).sum().item())}

    def architecture(self) -> list[tuple[str, str]]:
        pixels = math.prod(IMAGE_SHAPE)
        k = self.latent_dim
        return [("input", str(pixels)), ("encoder", str(HIDDEN)), ("code", f"{k} (mu, sigma)"),
                ("decoder", str(HIDDEN)), ("output", str(pixels))]

    @classmethod
    def model_code(cls, config: VAEConfig) -> str:
        pixels = math.prod(IMAGE_SHAPE)
        k = config.latent_dim
        shape = ", ".join(map(str, IMAGE_SHAPE))
        model = f'''\
class Model(nn.Module):
    """{pixels}-{HIDDEN}-({k} means, {k} log-variances), decoder {k}-{HIDDEN}-{pixels} (logits)."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear({pixels}, {HIDDEN}), nn.ReLU())
        self.to_mu = nn.Linear({HIDDEN}, {k})
        self.to_logvar = nn.Linear({HIDDEN}, {k})
        self.decoder = {mlp_code([k, HIDDEN, pixels])}

    def posterior(self, x):
        """q(z|x) = N(mu, diag(exp(logvar)))."""
        h = self.body(x.flatten(1))                  # (B, {HIDDEN})
        return self.to_mu(h), self.to_logvar(h)      # (B, {k}) each

    def decode_logits(self, z):
        return self.decoder(z).view(-1, {shape})
'''
        loss = f"""\
def loss_fn(model, x):
    mu, logvar = model.posterior(x)
    # The reparameterization z = mu + sigma * eps: the randomness is in eps alone, so
    # gradients flow through mu and sigma.
    z = mu + (0.5 * logvar).exp() * torch.randn_like(mu)
    recon = image_bce(model.decode_logits(z), x)
    # KL(q(z|x) || N(0, I)) in closed form (Kingma & Welling 2014, Appendix B): it pulls the
    # codes towards the prior, so decoding z ~ N(0, I) later gives plausible images.
    kl = (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp())).sum(dim=1).mean()
    return recon + {config.beta!r} * kl  # beta weights the KL; beta = 1 is the negative ELBO
"""
        return image_model_code(model, loss)
