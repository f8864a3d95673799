"""Variational autoencoder (Kingma & Welling, "Auto-Encoding Variational Bayes", 2014).

The encoder gives a Gaussian q(z|x) = N(mu, diag(exp(logvar))); a code is drawn from it with the
reparameterization z = mu + sigma * eps so gradients flow through the sampling. The loss is the
negative ELBO with a weight beta on its KL part (Higgins et al., beta-VAE, 2017); beta = 1 is
the plain VAE. Because the KL pulls q(z|x) towards the prior N(0, I), decoding z ~ N(0, I)
gives plausible new images."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from aedemo.models import register
from aedemo.models.base import AEConfig, ImageAutoencoder, TakeHome, hparam, image_bce, mlp

# A code unit whose average KL is below this (nats) carries no information: it is "inactive"
# (Burda et al., "Importance Weighted Autoencoders", 2016, use a variance criterion to that end).
ACTIVE_KL = 0.01


@dataclass(frozen=True)
class VAEConfig(AEConfig):
    beta: float = hparam(1.0, low=0.0, high=10.0, help="Weight of the KL term (beta-VAE)",
                         symbol="β")


class VAENet(nn.Module):
    """784-400-(k means, k log-variances), decoder k-400-784 (logits): one hidden layer of 400,
    as in the pytorch/examples VAE."""

    def __init__(self, latent_dim=16, beta=1.0):
        super().__init__()
        self.beta = beta       # the KL's weight; beta = 1 makes the loss the negative ELBO
        self.body = nn.Sequential(nn.Linear(784, 400), nn.ReLU())
        self.to_mu = nn.Linear(400, latent_dim)
        self.to_logvar = nn.Linear(400, latent_dim)
        self.decoder = mlp(latent_dim, 400, 784)

    def posterior(self, x):
        """q(z|x) = N(mu, diag(exp(logvar))): its mean and log-variance, (B, k) each."""
        h = self.body(x.flatten(1))                        # (B, 400)
        return self.to_mu(h), self.to_logvar(h)

    def encode(self, x):
        """The posterior's mean: the deterministic code for maps and reconstructions."""
        return self.posterior(x)[0]

    def decode_logits(self, z):
        return self.decoder(z).view(-1, 1, 28, 28)         # (B, k) -> (B, 1, 28, 28)


def gaussian_kl(mu, logvar):
    """KL(N(mu, exp(logvar)) || N(0, 1)) per dimension, in closed form:
    -1/2 (1 + logvar - mu^2 - exp(logvar)) (Kingma & Welling 2014, Appendix B)."""
    return -0.5 * (1 + logvar - mu.pow(2) - logvar.exp())


def vae_loss(model, x, rng=None):
    """The negative ELBO, with the weight beta on its KL part (Higgins et al., 2017)."""
    mu, logvar = model.posterior(x)
    # The reparameterization z = mu + sigma * eps: the randomness is in eps alone, so
    # gradients flow through mu and sigma.
    eps = torch.randn(mu.shape, generator=rng, device=mu.device, dtype=mu.dtype)
    z = mu + (0.5 * logvar).exp() * eps
    recon = image_bce(model.decode_logits(z), x)
    # The KL pulls the codes towards the prior N(0, I), so that decoding z ~ N(0, I) later
    # gives plausible images.
    kl = gaussian_kl(mu, logvar).sum(dim=1).mean()
    return recon + model.beta * kl, {"recon": recon, "kl": kl}


@register("vae")
class VAE(ImageAutoencoder):
    title = "VAE"          # what a page calls it
    summary = "Encodes a distribution, not a point; decoding N(0, I) samples makes new images."
    Config = VAEConfig
    takehome = TakeHome(VAENet, vae_loss, helpers=(mlp, image_bce, gaussian_kl))

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
        mu, logvar = self.net.posterior(x)
        return gaussian_kl(mu, logvar).mean(dim=0)

    @torch.no_grad()
    def extra_metrics(self, x: torch.Tensor, rng: torch.Generator) -> dict[str, float]:
        terms = self.forward(x, rng=rng).terms
        kl_dims = self.kl_per_dimension(x)
        return {"kl": terms["kl"].item(),
                # the negative ELBO (a positive number of nats: the ELBO itself is below
                # zero), always with beta = 1, so it is comparable across betas
                "neg_elbo": (terms["recon"] + terms["kl"]).item(),
                "active_units": int((kl_dims > ACTIVE_KL).sum().item())}

    def architecture(self) -> list[tuple[str, str]]:
        k = self.latent_dim
        return [("input", "784"), ("encoder", "400"), ("code", f"{k} (mu, sigma)"),
                ("decoder", "400"), ("output", "784")]
