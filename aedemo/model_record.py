"""What a stored model's two files must hold: ``<id>.json`` parsed and checked once into a
``ModelRecord``, and ``<id>.safetensors`` checked against the network its spec builds.

Nothing on disk is trusted: the JSON is checked field by field against what the app reads
before any of it is used, and the weights must be numbers that fit the network. What fails is
``Unusable``, a plain sentence that the store lists the model with, rather than an exception on
some page later. Reading the files (bounded, never blocking) is the store's part (aedemo.store).

The network is laid out on PyTorch's "meta" device, which has shapes but no memory, and given
the weights as they were read: no random initialisation to overwrite, so checking a model costs
little more than reading its file, and listing the zoo's models does not build them twice.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors

from aedemo.models import build
from aedemo.spec import ModelSpec

# Metrics saved under a name that no longer says what they hold: recon + KL is the *negative*
# ELBO (a positive number of nats), which models saved before the rename called "elbo".
RENAMED_METRICS = {"elbo": "neg_elbo"}


class Unusable(ValueError):
    """Why a stored model's files cannot be used, in plain words for the user."""


def current_metric_names(metrics: Mapping[str, float]) -> dict[str, float]:
    """A stored model's test metrics under today's names."""
    return {RENAMED_METRICS.get(name, name): value for name, value in metrics.items()}


@dataclass(frozen=True)
class ModelRecord:
    """What ``<id>.json`` says of a model, in typed fields. Built by ``from_json`` (a file on
    disk, checked) or by the store's ``save`` (a model just trained)."""

    id: str
    spec: ModelSpec
    metrics: dict[str, float]              # test metrics, under today's names
    history: tuple[dict[str, Any], ...]    # one entry per epoch, as train.fit writes it
    seconds: float                         # how long training took
    created: str                           # ISO date and time, UTC
    owner: str | None = None               # a session's id, the zoo's owner, or None (the CLI)
    versions: dict[str, str] = field(default_factory=dict)   # for people only

    @classmethod
    def from_json(cls, payload: bytes, model_id: str) -> ModelRecord:
        """The record in ``payload``, the bytes of model ``model_id``'s JSON; Unusable when it
        cannot be parsed or does not say what the app reads."""
        try:
            meta = json.loads(payload)
        except (ValueError, RecursionError) as err:     # RecursionError: [[[[...]]]]
            raise Unusable(f"its description file is unreadable ({err})") from None
        invalid = _meta_problem(meta, model_id)
        if invalid:
            raise Unusable(f"its description file is invalid: {invalid}")
        return cls(id=model_id, spec=ModelSpec.from_dict(meta["spec"]),
                   metrics=current_metric_names(meta["metrics"]),
                   history=tuple(meta["history"]), seconds=meta["seconds"],
                   created=meta["created"], owner=meta.get("owner"),
                   versions=meta.get("versions", {}))

    def to_json(self) -> dict[str, Any]:
        """The record as ``<id>.json`` holds it, and as the CLI prints it."""
        return {"id": self.id, "spec": self.spec.to_dict(), "owner": self.owner,
                "metrics": dict(self.metrics), "history": list(self.history),
                "seconds": self.seconds, "created": self.created,
                "versions": dict(self.versions)}


# --- what a model's weights must be ---------------------------------------------------------

# A weight that is NaN or infinite makes every output NaN: a page that shows such a model to the
# class (a pinned VAE's latent map) breaks for everyone, so the store neither writes nor reads one.
NOT_FINITE_SAVE = ("Training ended with weights that are not numbers (NaN or infinite), so the "
                   "model was not saved. Try a smaller learning rate.")
NOT_FINITE_LOAD = "its weights hold values that are not numbers (NaN or infinite)"


def layout(spec: ModelSpec) -> torch.nn.Module:
    """``spec``'s network on the meta device: its shapes, no weights. Unusable when this
    version of aedemo cannot build it."""
    try:
        with torch.device("meta"):
            return build(spec.variant, dict(spec.hparams))
    except (ValueError, TypeError, ArithmeticError) as err:     # ranges, types, int(inf)
        raise Unusable(f"it was made by another version of aedemo ({err})") from None


def with_weights(network: torch.nn.Module, payload: bytes, spec: ModelSpec) -> torch.nn.Module:
    """``layout(spec)`` given the weights in ``payload`` (a safetensors file's bytes, never a
    pickle); Unusable when they are corrupt, not numbers, or do not fit it."""
    try:
        state = load_safetensors(payload)
    except (SafetensorError, ValueError) as err:
        raise Unusable(f"its weights file is corrupt or truncated ({err})") from None
    if not all_finite(state):
        raise Unusable(NOT_FINITE_LOAD)
    try:
        network.load_state_dict(state, strict=True, assign=True)
    except RuntimeError as err:
        first = str(err).splitlines()[1:2] or [str(err)]
        raise Unusable(f"its weights do not fit the {spec.variant} model "
                       f"({first[0].strip()})") from None
    return network


def all_finite(state: dict[str, torch.Tensor]) -> bool:
    return all(_finite(t) for t in state.values() if t.is_floating_point())


def _finite(tensor: torch.Tensor) -> bool:
    # numpy's check where numpy has the type: torch's makes a tensor of booleans and wakes its
    # thread pool, which made the check most of what listing 20 models cost
    try:
        return bool(np.isfinite(tensor.numpy()).all())
    except TypeError:                                    # bfloat16, float8: not numpy's types
        return bool(torch.isfinite(tensor).all())


def library_versions() -> dict[str, str]:
    """The versions of the libraries a model was trained with, for a record's ``versions``."""
    out = {}
    for pkg in ("aedemo", "torch", "torchvision", "numpy", "scikit-learn", "safetensors"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = torch.__version__ if pkg == "torch" else "n/a"
    return out


# --- what a model's JSON must hold before anything reads it -----------------------------------

def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    """A finite int or float (JSON's NaN and Infinity are not; neither is true or false)."""
    return (_is_int(value) or isinstance(value, float)) and math.isfinite(value)


def _is_seconds(value: object) -> bool:
    return _is_number(value) and value >= 0


def _is_text(value: object) -> bool:
    return isinstance(value, str)


def _is_table(value: object, is_value: Callable[[object], bool]) -> bool:
    return isinstance(value, dict) and all(isinstance(k, str) and is_value(v)
                                           for k, v in value.items())


def _is_terms(value: object) -> bool:
    """{"mse": 0.01, ...}: test metrics, or an epoch's loss terms."""
    return _is_table(value, _is_number)


def _is_epoch(value: object) -> bool:
    """One entry of the history as ``train.fit`` writes it: {"epoch": 1, "seconds": 0.5,
    "train": {"loss": ..., "recon": ..., <terms>}, "test": {the same, or nothing}}. Every
    variant's terms include "loss" and "recon", which the loss curves read."""
    if not isinstance(value, dict):
        return False
    train, test = value.get("train"), value.get("test", {})
    return (_is_int(value.get("epoch")) and value["epoch"] >= 1
            and _is_seconds(value.get("seconds", 0))
            and _is_terms(train) and {"loss", "recon"} <= train.keys()
            and _is_terms(test) and (not test or {"loss", "recon"} <= test.keys()))


def _is_spec(value: object) -> bool:
    """A dict that ModelSpec.from_dict accepts, with the fields the pages and the CLI read;
    whether its variant and hyperparameters can be built is the store's question."""
    if not isinstance(value, dict):
        return False
    hparams, normal = value.get("hparams"), value.get("normal", [])
    if not (_is_text(value.get("variant")) and _is_text(value.get("dataset"))
            and isinstance(value.get("train"), dict)
            and isinstance(hparams, dict) and _is_int(hparams.get("latent_dim"))
            and isinstance(normal, list) and all(_is_int(c) for c in normal)):
        return False
    try:
        ModelSpec.from_dict(value)
    except (ValueError, TypeError, KeyError):
        return False
    return True


# field: (required, what it must be in words, the check). ``save`` writes every field; models
# saved before owners were recorded have no "owner", and "versions" is for people only.
META_SCHEMA: dict[str, tuple[bool, str, Callable[[object], bool]]] = {
    "id": (True, "text", _is_text),              # and the file's name: see _meta_problem
    "spec": (True, "a model description this version of aedemo reads", _is_spec),
    "owner": (False, "text or null", lambda v: v is None or _is_text(v)),
    "metrics": (True, "a table of names to finite numbers", _is_terms),
    "history": (True, "a list of epochs as training writes them",
                lambda v: isinstance(v, list) and all(_is_epoch(e) for e in v)),
    "seconds": (True, "a finite number of seconds, not negative", _is_seconds),
    "created": (True, "a date written as text", _is_text),
    "versions": (False, "a table of package names to versions",
                 lambda v: _is_table(v, _is_text)),
}


def _meta_problem(meta: object, model_id: str) -> str | None:
    """Why ``meta`` (a parsed JSON) cannot be the description of model ``model_id``, or None."""
    if not isinstance(meta, dict):
        return "it is not a JSON object"
    for name, (required, what, check) in META_SCHEMA.items():
        if name not in meta:
            if required:
                return f"it has no {name!r}"
        elif not check(meta[name]):
            return f"its {name!r} is not {what}"
    if meta["id"] != model_id:
        return f"its 'id' is not its file's name ({model_id})"
    return None
