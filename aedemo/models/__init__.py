"""The registry of autoencoder variants: the one list the Train page, the CLI and the tests read.

A variant is one file in this folder whose class is decorated with ``@register("name")``; the
imports at the bottom of this module load each file once so its decorator runs.
"""

from __future__ import annotations

import threading
from typing import Any

import torch

REGISTRY: dict[str, type] = {}


def register(name: str):
    def add(cls):
        if name in REGISTRY:
            raise ValueError(f"variant {name!r} is registered twice")
        cls.name = name
        REGISTRY[name] = cls
        return cls
    return add


def variant_names(kind: str | None = None) -> list[str]:
    """Registered variant names, optionally only those for "image" or "sequence" data."""
    return [n for n, cls in REGISTRY.items() if kind is None or cls.kind == kind]


def get_variant(name: str) -> type:
    try:
        return REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown variant {name!r}; choose one of {', '.join(REGISTRY)}") from None


_init_lock = threading.Lock()


def build(name: str, hparams: dict[str, Any] | None = None, *, seed: int = 0):
    """A fresh model of variant ``name`` with weights initialised from ``seed``; hparams are
    checked against their declared ranges."""
    cls = get_variant(name)
    config = cls.Config.from_dict(hparams or {})
    # Layers draw their initial weights from torch's global generator: fork it under a lock so
    # two jobs building models at once neither disturb each other nor anyone else's stream.
    with _init_lock, torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return cls(config)


# Each import registers one variant; the order here is the order the UI lists them in.
from aedemo.models import dense, denoising, sparse, vae, conv, lstm  # noqa: E402, F401, I001
