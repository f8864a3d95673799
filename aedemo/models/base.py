"""What every autoencoder variant shares: its config, its output and its interface.

An autoencoder maps x to a code z = encode(x) and back, x_hat = decode(z). Each variant
owns its loss and returns it as named terms (``Output.terms``), so one trainer and one
loss-curve figure serve all of them. Each variant's network and loss are written once, as the
plain PyTorch a student takes home from "Show the code"; the app's class holds them.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn


def hparam(default: Any, *, low=None, high=None, choices: tuple = (), log: bool = False,
           help: str = "", symbol: str | None = None) -> Any:
    """A config field that carries the range the UI sliders and the CLI flags read, and the
    symbol a model's name gives it ("β = 4"; the field's name in words by default)."""
    return field(default=default, metadata={"low": low, "high": high, "choices": choices,
                                            "log": log, "help": help, "symbol": symbol})


def log_options(low: float, high: float) -> list[float]:
    """The steps of a ``log`` field's select slider: 1, 2 and 5 times each power of ten from
    low to high (a learning rate's)."""
    values, decade = [], 10.0 ** math.floor(math.log10(low))
    while decade <= high:
        values += [m * decade for m in (1, 2, 5) if low <= m * decade <= high]
        decade *= 10
    return [float(f"{v:.6g}") for v in values]


class CheckedConfig:
    """A frozen dataclass of ``hparam`` fields, built from plain values (a form, CLI flags, a
    JSON file) by ``from_dict``, which checks each one against its field. The model configs
    and TrainConfig share it, so a value is refused the same way wherever it comes from."""

    @classmethod
    def from_dict(cls, values: dict[str, Any]):
        """Build a config, refusing unknown names and values outside the declared ranges."""
        known = {f.name: f for f in dataclasses.fields(cls)}
        unknown = set(values) - set(known)
        if unknown:
            raise ValueError(f"unknown hyperparameter(s) {sorted(unknown)}; "
                             f"{cls.__name__} takes {sorted(known)}")
        return cls(**{name: checked_value(known[name], value) for name, value in values.items()})


def checked_value(f: dataclasses.Field, value: Any) -> Any:
    """``value`` for the ``hparam`` field ``f``, as the field's type, or a ValueError that says
    what the field takes. Numbers must be finite (nan compares False with both ends of a range,
    so a range check alone lets it through) and whole for an int field; a bool is not a
    number here, though Python counts True as 1."""
    meta, name = f.metadata, f.name
    if meta.get("choices"):
        if value not in meta["choices"]:
            raise ValueError(f"{name} must be one of {list(meta['choices'])}, not {value!r}")
        return value
    low, high = meta.get("low"), meta.get("high")
    whole = type(f.default) is int                   # every other ranged field is a float
    wanted = f"{'a whole' if whole else 'a finite'} number between {low} and {high}"
    number = value
    if value is None:                                # a number field left empty
        raise ValueError(f"{name} must be {wanted}")
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            raise ValueError(f"{name} must be {wanted}, not {value[:40]!r}") from None
    if isinstance(number, bool) or not isinstance(number, numbers.Real):
        raise ValueError(f"{name} must be {wanted}, not {repr(value)[:40]}")
    # an int is always finite (and math.isfinite cannot take one beyond float's range)
    if not isinstance(number, numbers.Integral) and (
            not math.isfinite(number) or whole and not float(number).is_integer()):
        raise ValueError(f"{name} must be {wanted}, not {value}")
    if low is not None and number < low or high is not None and number > high:
        raise ValueError(f"{name} must be between {low} and {high}, not {value}")
    return int(number) if whole else float(number)


@dataclass(frozen=True)
class AEConfig(CheckedConfig):
    """Hyperparameters shared by every variant; variants subclass this and add their own."""

    latent_dim: int = hparam(16, low=2, high=128, help="Bottleneck size k", symbol="k")

    @classmethod
    def params(cls) -> list[dataclasses.Field]:
        return list(dataclasses.fields(cls))

    @classmethod
    def own_params(cls) -> list[dataclasses.Field]:
        """The fields this variant adds to the base config (noise, l1, beta...)."""
        base = {f.name for f in dataclasses.fields(AEConfig)}
        return [f for f in dataclasses.fields(cls) if f.name not in base]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class Output:
    """What ``forward`` returns. ``loss`` is what the optimiser minimises; ``terms`` are its
    named parts as a student reads them (per image, averaged over the batch)."""

    loss: torch.Tensor         # scalar
    terms: dict[str, torch.Tensor]


# --- take-home parts -------------------------------------------------------------------------
# Each variant's file writes its network as a plain nn.Module and its loss as a plain
# ``loss(network, x, rng=None) -> (loss, named terms)``, in the form "Show the code" copies into
# a student's script (aedemo.codegen reads them with inspect.getsource). So they use only torch,
# nn, F, math and one another, take their settings as constructor arguments, and have no type
# annotations a student's script would have to import for. The app's class holds the network.

def mlp(*sizes):
    """Linear layers of these sizes with a ReLU between each two and nothing after the last."""
    layers = []
    for n_in, n_out in zip(sizes, sizes[1:]):
        layers += [nn.Linear(n_in, n_out), nn.ReLU()]
    return nn.Sequential(*layers[:-1])


def image_bce(logits, x):
    """Binary cross-entropy summed over each image's pixels and averaged over the batch: the
    scale of Kingma & Welling (2014) and the pytorch/examples VAE. It takes the decoder's logits,
    which fuses the sigmoid and the log: numerically safer and faster."""
    return F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / len(x)


def reconstruction_loss(model, x, rng=None):
    """The plain autoencoder's loss: how far the decoded code of x is from x itself."""
    recon = image_bce(model.decode_logits(model.encode(x)), x)
    return recon, {"recon": recon}


# --- the app's side ------------------------------------------------------------------------

LossFn = Callable[..., tuple[torch.Tensor, dict[str, torch.Tensor]]]


@dataclass(frozen=True)
class TakeHome:
    """A variant's take-home parts, in the order "Show the code" writes them into a script: the
    helpers (functions and classes, and the names of constants in the variant's file), then the
    network and its loss, ``loss(network, x, rng=None) -> (loss, named terms)``."""

    network: type[nn.Module]
    loss: LossFn
    helpers: tuple[Any, ...] = ()


class Autoencoder(nn.Module):
    """What the app needs of every variant, around the variant's take-home network.

    The app's model holds that network as ``net``, built with the config's values by name, so
    it has exactly the script's layers and initial weights, and calls the take-home loss on it.
    ``kind`` says which data it trains on: "image" or "sequence"."""

    name: ClassVar[str] = ""
    kind: ClassVar[str] = "image"
    Config: ClassVar[type[AEConfig]] = AEConfig
    summary: ClassVar[str] = ""
    title: ClassVar[str] = ""        # the name a page gives it: "dense autoencoder", "VAE"
    max_grad_norm: ClassVar[float | None] = None    # gradient clipping, for recurrent variants
    # Training settings this variant learns best with, where they differ from TrainConfig's.
    train_defaults: ClassVar[dict[str, Any]] = {}
    takehome: ClassVar[TakeHome]

    def __init__(self, config: AEConfig):
        super().__init__()
        self.config = config
        self.net = self.takehome.network(**config.to_dict())

    # The weights go by the network's own names (encoder.0.weight, not net.encoder.0.weight):
    # the names every stored model and every take-home script's saved weights have.
    def state_dict(self, *args, **kwargs):
        return self.net.state_dict(*args, **kwargs)

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        return self.net.load_state_dict(state_dict, strict=strict, assign=assign)

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    def forward(self, x: torch.Tensor, *, rng: torch.Generator | None = None) -> Output:
        loss, terms = self.takehome.loss(self.net, x, rng)
        return Output(loss=loss, terms=terms)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.encode(x)                                   # (B, ...) -> (B, k)

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Deterministic reconstruction for display and metrics (the VAE uses its mean)."""
        return self.decode(self.encode(x))

    @torch.no_grad()
    def extra_metrics(self, x: torch.Tensor, rng: torch.Generator) -> dict[str, float]:
        """Test metrics that only this variant has (KL for the VAE, sparsity...)."""
        return {}

    def architecture(self) -> list[tuple[str, str]]:
        """(layer name, output size) pairs for the diagram on the Home page."""
        return []


class ImageAutoencoder(Autoencoder):
    """An image variant: its network's ``encode`` and ``decode_logits``, and a sigmoid after."""

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.net.decode_logits(z))         # (B, k) -> (B, 1, 28, 28)
