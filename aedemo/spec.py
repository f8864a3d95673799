"""What to train: a variant, its hyperparameters, the data and the training settings. A spec's
hash is the id of the model it produces, so an identical request finds the stored model.

``train_spec`` is the one recipe the CLI, the job service and the zoo all use to turn a spec into
a trained, evaluated model.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
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
    # Train on a seeded sample of this many training images only (0: all of them), repeated to
    # the whole set's size, so the model takes as many steps as one trained on all: the
    # Reconstructions page's overfitting lesson.
    subset: int = 0
    # The share of the normal training images a one-class model never trains on: its anomaly
    # threshold is set on them, without a label or a test image (VALIDATION_SHARE).
    holdout: float = 0.0

    @classmethod
    def create(cls, variant: str, hparams: dict[str, Any] | None = None, *,
               dataset: str | None = None, train: TrainConfig | None = None,
               normal: tuple[int, ...] = (), subset: int = 0) -> ModelSpec:
        """A spec with its hyperparameters checked and completed (``checked``), on the dataset
        actually used: ``dataset`` defaults to MNIST for images and to the generated series for
        sequences, and an image set is loaded to learn what stands in for it ("mnist" offline is
        "mnist-5k"). So not for a page's rerun path: a page names a dataset it has (``checked``).
        Raises DataError for a dataset that is not here and has no stand-in of the same kind,
        and ValueError for a hyperparameter or training setting outside its range."""
        if dataset is None:
            dataset = datasets.SERIES if get_variant(variant).kind == "sequence" else "mnist"
        spec = cls.checked(variant, hparams, dataset=dataset, train=train, normal=normal,
                           subset=subset)
        if spec.kind == "image":
            images = datasets.load_images(dataset)         # "mnist" offline -> "mnist-5k"
            refusal = datasets.stand_in_refusal(images)
            if refusal:
                raise datasets.DataError(refusal)
            spec = dataclasses.replace(spec, dataset=images.source)
        return spec

    @classmethod
    def checked(cls, variant: str, hparams: dict[str, Any] | None = None, *, dataset: str,
                train: TrainConfig | None = None, normal: tuple[int, ...] = (),
                subset: int = 0) -> ModelSpec:
        """A spec on ``dataset`` as named, with its hyperparameters and training settings
        checked and completed; nothing is loaded, so a page builds one on every rerun (the
        Train page's settings, Start and its script). A one-class model (``normal``) keeps
        VALIDATION_SHARE of its normal images out of training. Raises ValueError for a
        hyperparameter or training setting outside its range."""
        variant_cls = get_variant(variant)
        full = variant_cls.Config.from_dict(hparams or {}).to_dict()
        # ``train`` was built by a caller (a page, the CLI): check it like the hyperparameters
        train = TrainConfig.from_dict(dataclasses.asdict(train or default_train(variant)))
        if (normal or subset) and variant_cls.kind != "image":
            raise ValueError("normal classes and subsets apply to image datasets only")
        return cls(variant=variant, hparams=tuple(sorted(full.items())), dataset=dataset,
                   train=train, normal=checked_classes(sorted(set(normal))),
                   subset=checked_subset(subset),
                   holdout=VALIDATION_SHARE if normal else 0.0)

    @property
    def kind(self) -> str:
        return get_variant(self.variant).kind

    @property
    def latent_dim(self) -> int:
        return dict(self.hparams)["latent_dim"]

    def to_dict(self) -> dict[str, Any]:
        d = {"variant": self.variant, "hparams": dict(self.hparams), "dataset": self.dataset,
             "train": dataclasses.asdict(self.train), "normal": list(self.normal)}
        # written only when set, so the models that use neither keep the ids they always had
        if self.subset:
            d["subset"] = self.subset
        if self.holdout:
            d["holdout"] = self.holdout
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelSpec:
        holdout = d.get("holdout", 0.0)
        if isinstance(holdout, bool) or not isinstance(holdout, (int, float)) or not (
                0.0 <= holdout <= MAX_HOLDOUT):
            raise ValueError(f"holdout must be a share between 0 and {MAX_HOLDOUT}")
        return cls(variant=d["variant"], hparams=tuple(sorted(d["hparams"].items())),
                   dataset=d["dataset"], train=TrainConfig.from_dict(d["train"]),
                   normal=checked_classes(d.get("normal", ())),
                   subset=checked_subset(d.get("subset", 0)), holdout=float(holdout))

    @property
    def key(self) -> str:
        """12 hex digits of the SHA-256 of the canonical JSON: the stored model's id."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    @property
    def title(self) -> str:
        """The model's name for people: "dense autoencoder, k = 16", "VAE, k = 2, β = 4",
        "dense autoencoder, k = 16, normal: 0 and 3", with only the settings that differ from
        the variant's defaults, each by its symbol."""
        cls = get_variant(self.variant)
        fields = {f.name: f for f in dataclasses.fields(cls.Config)}
        parts = [cls.title or self.variant, f"k = {self.latent_dim}"]
        for name, value in self.changed_hparams():
            symbol = fields[name].metadata.get("symbol") or name.replace("_", " ")
            parts.append(f"{symbol} = {value:g}" if isinstance(value, float) else
                         f"{symbol} = {value}")
        if self.normal:
            parts.append(f"normal: {and_list(self.normal)}")
        if self.subset:
            parts.append(f"on {self.subset:,} images")
        return ", ".join(parts)

    def changed_hparams(self) -> list[tuple[str, Any]]:
        """The settings besides k that differ from the variant's defaults, in name order."""
        defaults = {f.name: f.default for f in dataclasses.fields(get_variant(self.variant).Config)}
        return [(name, value) for name, value in self.hparams
                if name != "latent_dim" and name in defaults and value != defaults[name]]

    def describe(self) -> str:
        extra = "".join(f", {k}={v}" for k, v in self.hparams if k != "latent_dim")
        normal = f", normal: {and_list(self.normal)}" if self.normal else ""
        subset = f" ({self.subset:,} of its images)" if self.subset else ""
        epochs = self.train.epochs
        return (f"{self.variant} k={self.latent_dim}{extra} on {self.dataset}{subset}{normal}, "
                f"{epochs} epoch{'s' if epochs != 1 else ''}")


def and_list(items) -> str:
    """Items in words: "0", "0 and 3", "0, 3 and 8"."""
    words = [str(i) for i in items]
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


# A one-class model never trains on this share of its normal training images: they are the
# held-out normal images its default anomaly threshold is set on (aedemo.lessons.anomaly).
VALIDATION_SHARE = 0.1
MAX_HOLDOUT = 0.5
SPLIT_SEED = 0           # the same split whatever the training seed: it belongs to the data


def checked_subset(subset) -> int:
    if isinstance(subset, bool) or not isinstance(subset, int) or subset < 0:
        raise ValueError(f"subset must be a whole number of images, 0 for all, not {subset!r}")
    return subset


def one_class_split(labels: torch.Tensor, normal: tuple[int, ...],
                    holdout: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices of the normal classes' images in ``labels``, split into (trained on, held
    out): a seeded ``holdout`` share of them is held out, the same split for every model."""
    found = torch.nonzero(torch.isin(labels, torch.tensor(normal, dtype=labels.dtype)))[:, 0]
    order = found[torch.randperm(len(found), generator=torch.Generator().manual_seed(SPLIT_SEED))]
    n_held = int(round(len(found) * holdout))
    return order[n_held:].sort().values, order[:n_held].sort().values


def training_data(spec: ModelSpec) -> tuple[torch.Tensor, torch.Tensor]:
    """(x_train, x_test) for a spec. The one-class protocol trains on the normal classes only,
    less the held-out share its threshold is set on, and its test curve is measured on the
    normal test images (the rest of the test set is what it must find, not what it learns).
    A subset is a seeded sample of the training images, repeated to the whole set's size."""
    d = datasets.load_dataset(spec.dataset, spec.kind)
    if spec.kind == "image" and d.source != spec.dataset:
        # a page names a set it has not loaded as the student chose it (ModelSpec.checked):
        # what stands in for it here is not what the model would be stored as
        raise datasets.DataError(f"{spec.dataset} cannot be had here (no network?), so nothing "
                                 f"was trained: choose {d.source}, which this machine has.")
    x_train, x_test = d.x_train, d.x_test
    if spec.normal:
        trained_on, _ = one_class_split(d.y_train, spec.normal, spec.holdout)
        x_train = x_train[trained_on]
        x_test = x_test[torch.isin(d.y_test, torch.tensor(spec.normal, dtype=d.y_test.dtype))]
        if len(x_train) == 0 or len(x_test) == 0:
            raise datasets.DataError(f"no images of class {spec.normal} in {spec.dataset}")
    if spec.subset:
        if spec.subset > len(x_train):
            raise datasets.DataError(f"{spec.dataset} has {len(x_train):,} training images, "
                                     f"fewer than the {spec.subset:,} asked for")
        chosen = torch.randperm(len(x_train), generator=torch.Generator().manual_seed(
            SPLIT_SEED))[:spec.subset]
        repeats = -(-len(x_train) // spec.subset)              # ceil: at least the whole size
        x_train = x_train[chosen].repeat(repeats, 1, 1, 1)[:len(x_train)]
    return x_train, x_test



# --- what a spec costs to train ------------------------------------------------------------
# One training step on the reference machine (2 CPU cores, PyTorch's CPU build), per variant at
# its default settings: (seconds per step whatever its size: Python, Adam, slicing the batch;
# seconds per image in the step: forward and backward). Measured once by timing steps of batch
# 16 and of batch 256, the best of three, on the offline digits or the generated series; the
# two sizes give the two figures. They are used only where this worker has measured nothing
# alike (aedemo.estimates.cost_estimate), and for the shape of the work: a batch of 16 costs about
# twice as much per image as one of 64 (the per-step part), which epochs alone do not say.
STEP_COSTS: dict[str, tuple[float, float]] = {
    "dense": (2.0e-3, 9.9e-6),
    "denoising": (1.5e-3, 26e-6),        # the dense network, and the noise drawn per image
    "sparse": (2.2e-3, 6.9e-6),
    "vae": (3.8e-3, 8.6e-6),
    "conv": (2.1e-3, 44e-6),
    "lstm": (0.8e-3, 456e-6),             # 128 time steps, one after the other
}


@functools.lru_cache(maxsize=256)
def parameter_count(variant: str, hparams: tuple[tuple[str, Any], ...] = ()) -> int:
    """The number of weights of ``variant`` with these hyperparameters (its defaults for the
    rest): built once on the CPU, never trained."""
    return sum(p.numel() for p in build(variant, dict(hparams), seed=0).parameters())


def seconds_per_image(spec: ModelSpec) -> float:
    """What one epoch of ``spec`` costs per training image on the reference machine: its
    variant's per-step part shared by the batch, plus its per-image part scaled by the
    network's size against the variant's default (a dense code of 1,024 has more weights to
    train than one of 16; an LSTM of 256 hidden units many more than one of 64)."""
    per_step, per_image = STEP_COSTS[spec.variant]
    size = parameter_count(spec.variant, spec.hparams) / parameter_count(spec.variant)
    return per_step / spec.train.batch_size + per_image * size


def work_seconds(spec: ModelSpec, n_train: int) -> float:
    """Seconds that training ``spec`` on ``n_train`` images takes on the reference machine:
    its epochs, each of ``n_train`` images at seconds_per_image."""
    return spec.train.epochs * n_train * seconds_per_image(spec)


def training_images(spec: ModelSpec, n_data: int) -> int:
    """How many images an epoch of ``spec`` trains on, from the ``n_data`` training images of
    its dataset: a one-class model only its normal classes' (about a tenth each, as in the
    image sets here, less the held-out share); a subset is repeated to the whole size."""
    if not spec.normal:
        return n_data
    return math.ceil(n_data * len(spec.normal) / len(CLASSES) * (1 - spec.holdout))

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
