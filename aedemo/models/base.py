"""What every autoencoder variant shares: its config, its output and its interface.

An autoencoder maps x to a code z = encode(x) and back, x_hat = decode(z). Each variant
owns its loss and returns it as named terms (``Output.terms``), so one trainer and one
loss-curve figure serve all of them.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn


def hparam(default: Any, *, low=None, high=None, choices: tuple = (), log: bool = False,
           help: str = "") -> Any:
    """A config field that carries the range the UI sliders and the CLI flags read."""
    return field(default=default, metadata={"low": low, "high": high, "choices": choices,
                                            "log": log, "help": help})


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

    latent_dim: int = hparam(16, low=2, high=128, help="Bottleneck size k")

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

    recon: torch.Tensor        # same shape as the input, values in [0, 1] for images
    code: torch.Tensor         # (B, k)
    loss: torch.Tensor         # scalar
    terms: dict[str, torch.Tensor]


class Autoencoder(nn.Module):
    """Base class. ``kind`` says which data a variant trains on: "image" or "sequence"."""

    name: ClassVar[str] = ""
    kind: ClassVar[str] = "image"
    Config: ClassVar[type[AEConfig]] = AEConfig
    summary: ClassVar[str] = ""
    max_grad_norm: ClassVar[float | None] = None    # gradient clipping, for recurrent variants
    # Training settings this variant learns best with, where they differ from TrainConfig's.
    train_defaults: ClassVar[dict[str, Any]] = {}

    def __init__(self, config: AEConfig):
        super().__init__()
        self.config = config

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    def encode(self, x: torch.Tensor) -> torch.Tensor:  # (B, ...) -> (B, k)
        raise NotImplementedError

    def decode(self, z: torch.Tensor) -> torch.Tensor:  # (B, k) -> (B, ...)
        raise NotImplementedError

    def forward(self, x: torch.Tensor, *, rng: torch.Generator | None = None) -> Output:
        z = self.encode(x)
        recon = self.decode(z)
        bce = image_bce(recon, x)
        return Output(recon=recon, code=z, loss=bce, terms={"recon": bce})

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

    @classmethod
    def model_code(cls, config: AEConfig) -> str:
        """Standalone PyTorch source for this variant at ``config``, for students to take home:
        a ``class Model(nn.Module)`` with the same layers as this class (so the same parameter
        count and state_dict names) and a ``loss_fn(model, x)`` returning the training loss,
        with the config's values written in as literals. It may use ``torch``, ``nn``, ``F`` and
        ``math`` and nothing else; a variant with ``max_grad_norm`` also defines
        ``MAX_GRAD_NORM``, which the generated training loop clips to."""
        raise NotImplementedError(
            f"variant {cls.name!r} ({cls.__name__}) has no model_code, so the Train page cannot "
            f"show its code: add a model_code classmethod to its file")


def image_bce(recon: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy summed over the pixels of an image, averaged over the batch,
    the scale used by Kingma & Welling (2014) and the pytorch/examples VAE."""
    return F.binary_cross_entropy(recon, target, reduction="sum") / target.shape[0]


def image_bce_with_logits(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """As image_bce, from the decoder's pre-sigmoid output: numerically safer and faster,
    because the sigmoid and the log are fused."""
    return F.binary_cross_entropy_with_logits(logits, target, reduction="sum") / target.shape[0]


# The snippet form of image_bce_with_logits above, for the image variants' model_code.
_IMAGE_BCE_CODE = '''\
def image_bce(logits, x):
    # Summed over each image's pixels, averaged over the batch: the scale of Kingma & Welling
    # (2014). Taking logits fuses the sigmoid and the log, which is numerically safer.
    return F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / len(x)
'''

_RECONSTRUCTION_LOSS_CODE = '''\
def loss_fn(model, x):
    return image_bce(model.decode_logits(model.encode(x)), x)
'''


def image_model_code(model: str, loss: str = _RECONSTRUCTION_LOSS_CODE) -> str:
    """An image variant's model_code: its Model source, image_bce, then its loss_fn source
    (by default the plain reconstruction loss of a Model with encode and decode_logits)."""
    return "\n\n".join([model, _IMAGE_BCE_CODE, loss])
