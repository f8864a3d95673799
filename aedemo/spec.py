"""What to train: a variant, its hyperparameters, the data and the training settings. A spec's
hash is the id of the model it produces, so an identical request finds the stored model.

``train_spec`` is the one recipe the CLI, the job service and the zoo all use to turn a spec into
a trained, evaluated model.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import torch

from aedemo import data as datasets
from aedemo.metrics import evaluate
from aedemo.models import build, get_variant
from aedemo.train import Callback, TrainConfig, fit, pick_device


def default_train(variant: str, **overrides: Any) -> TrainConfig:
    """TrainConfig's defaults, then the variant's own preferences, then ``overrides``."""
    return TrainConfig(**{**get_variant(variant).train_defaults, **overrides})


MNIST_TRAIN_SIZE = 60_000
# A set this many times smaller than MNIST gets this many times more epochs, divided by 2: a small
# set needs fewer steps to fit, and the offline zoo must still train in about two minutes. On the
# offline MNIST digits (4,000) that is 38 epochs for the dense sweep: its autoencoder beats PCA up
# to k = 32 (test MSE 0.0143 against 0.0159); with 4 it got 19 epochs and lost from k = 32 on.
STEP_DISCOUNT = 2
MAX_EPOCHS = 60
SMALL_SET = 10_000        # below this many training images, use smaller batches
SMALL_BATCH = 64


def scaled_epochs(mnist_epochs: int, n_train: int) -> int:
    """Epochs for a training set of n_train images that give about as many gradient steps as
    ``mnist_epochs`` on MNIST, discounted by STEP_DISCOUNT and capped at MAX_EPOCHS."""
    factor = MNIST_TRAIN_SIZE / max(n_train, 1) / STEP_DISCOUNT
    return int(min(MAX_EPOCHS, max(mnist_epochs, round(mnist_epochs * factor))))


def suggested_train(variant: str, n_train: int | None = None, *, mnist_epochs: int | None = None,
                    lr: float | None = None) -> TrainConfig:
    """Training settings for ``variant`` on an image set of ``n_train`` images: the variant's
    own defaults, MNIST's epochs scaled to the set's size, and on a set smaller than SMALL_SET
    batches of SMALL_BATCH. On the 1,438 offline digits that last step matters most: at 256 a
    dense epoch is 6 steps and the model stalls at the mean digit (test MSE 0.0069 after 52
    epochs); at 64 it reaches 0.0028, and the conv model 0.0021 instead of 0.0171."""
    base = default_train(variant)
    overrides: dict = {"epochs": mnist_epochs or base.epochs}
    if lr is not None:
        overrides["lr"] = lr
    if n_train is not None and get_variant(variant).kind == "image":
        overrides["epochs"] = scaled_epochs(overrides["epochs"], n_train)
        if n_train < SMALL_SET:
            overrides["batch_size"] = SMALL_BATCH
    return default_train(variant, **overrides)


CLASSES = range(10)      # every image dataset here has ten classes (labels 0-9)


def checked_classes(normal) -> tuple[int, ...]:
    """A one-class model's normal classes: distinct labels 0-9 in increasing order, as
    ModelSpec.create writes them (a stored spec's key depends on that order). ValueError
    otherwise: a hand-edited [99, -1] once reached the Anomaly page as an IndexError."""
    found = tuple(normal)
    if not all(isinstance(c, int) and not isinstance(c, bool) and c in CLASSES for c in found):
        raise ValueError(f"normal classes must be digits 0-9, not {list(found)}")
    if list(found) != sorted(set(found)):
        raise ValueError(f"normal classes must be distinct and in order, not {list(found)}")
    return found


@dataclass(frozen=True)
class ModelSpec:
    variant: str
    hparams: tuple[tuple[str, Any], ...]        # every hyperparameter, defaults filled in
    dataset: str                                # the dataset actually used (after any fallback)
    train: TrainConfig = field(default_factory=TrainConfig)
    normal: tuple[int, ...] = ()                # train on these classes only (one-class anomaly)

    @classmethod
    def create(cls, variant: str, hparams: dict[str, Any] | None = None, *,
               dataset: str | None = None, train: TrainConfig | None = None,
               normal: tuple[int, ...] = ()) -> ModelSpec:
        """A spec with its hyperparameters checked and completed; ``dataset`` defaults to MNIST
        for images (or its offline stand-in) and to the generated series for sequences. Raises
        DataError for a dataset that is not here and has no stand-in of the same kind, and
        ValueError for a hyperparameter or training setting outside its range."""
        variant_cls = get_variant(variant)
        full = variant_cls.Config.from_dict(hparams or {}).to_dict()
        # ``train`` was built by a caller (a page, the CLI): check it like the hyperparameters
        train = TrainConfig.from_dict(dataclasses.asdict(train or default_train(variant)))
        if dataset is None:
            dataset = datasets.SERIES if variant_cls.kind == "sequence" else "mnist"
        if variant_cls.kind == "image":
            images = datasets.load_images(dataset)         # "mnist" offline -> "mnist-5k"
            refusal = datasets.stand_in_refusal(images)
            if refusal:
                raise datasets.DataError(refusal)
            dataset = images.source
        if normal and variant_cls.kind != "image":
            raise ValueError("normal classes apply to image datasets only")
        return cls(variant=variant, hparams=tuple(sorted(full.items())), dataset=dataset,
                   train=train, normal=checked_classes(sorted(set(normal))))

    @property
    def kind(self) -> str:
        return get_variant(self.variant).kind

    @property
    def latent_dim(self) -> int:
        return dict(self.hparams)["latent_dim"]

    def to_dict(self) -> dict[str, Any]:
        return {"variant": self.variant, "hparams": dict(self.hparams), "dataset": self.dataset,
                "train": dataclasses.asdict(self.train), "normal": list(self.normal)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelSpec:
        return cls(variant=d["variant"], hparams=tuple(sorted(d["hparams"].items())),
                   dataset=d["dataset"], train=TrainConfig.from_dict(d["train"]),
                   normal=checked_classes(d.get("normal", ())))

    @property
    def key(self) -> str:
        """12 hex digits of the SHA-256 of the canonical JSON: the stored model's id."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def describe(self) -> str:
        extra = "".join(f", {k}={v}" for k, v in self.hparams if k != "latent_dim")
        normal = f", normal={''.join(map(str, self.normal))}" if self.normal else ""
        epochs = self.train.epochs
        return (f"{self.variant} k={self.latent_dim}{extra} on {self.dataset}{normal}, "
                f"{epochs} epoch{'s' if epochs != 1 else ''}")


def training_data(spec: ModelSpec) -> tuple[torch.Tensor, torch.Tensor]:
    """(x_train, x_test) for a spec: the one-class protocol keeps only the normal classes for
    training and the whole test set for testing."""
    d = datasets.load_dataset(spec.dataset, spec.kind)
    x_train = d.x_train
    if spec.normal:
        x_train = x_train[torch.isin(d.y_train, torch.tensor(spec.normal))]
        if len(x_train) == 0:
            raise datasets.DataError(f"no training images of class {spec.normal} in {spec.dataset}")
    return x_train, d.x_test


@dataclass
class Trained:
    model: Any
    history: list[dict[str, Any]]
    metrics: dict[str, float]
    seconds: float


def train_spec(spec: ModelSpec, *, callbacks: tuple[Callback, ...] = (),
               stop: threading.Event | None = None) -> Trained:
    """Build, train and evaluate the model a spec describes."""
    start = time.perf_counter()
    x_train, x_test = training_data(spec)
    model = build(spec.variant, dict(spec.hparams), seed=spec.train.seed)
    history = fit(model, x_train, x_test, spec.train, callbacks=callbacks, stop=stop,
                  device=pick_device())
    metrics = evaluate(model, x_test, seed=spec.train.seed)
    return Trained(model=model, history=history, metrics=metrics,
                   seconds=time.perf_counter() - start)
