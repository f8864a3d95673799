"""The default zoo: the models the app trains on first start so every page has something to show,
and shows by default (the lesson's models; see aedemo.service.Provenance).

The zoo teaches what the pages say: every k of the dense bottleneck sweep gets the same training
budget, so its error falls as k grows; the sparse model's L1 weight keeps most of its units
alive, each unit drawing a stroke; and a one-class detector gives the Anomaly page something to
show on first open.

Epochs are set for full MNIST (60,000 training images) so that on a 2-core CPU the first dense
model is ready within 15 s and the whole zoo within 3 minutes (``bench/zoo.py`` measures both).
A smaller dataset, such as the offline MNIST digits, gets proportionally more epochs, within
limits, so its models see a comparable number of gradient steps (``spec.suggested_train``, which
the Train page's defaults use too).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aedemo import data as datasets
from aedemo.lessons.anomaly import count_of_classes
from aedemo.models import get_variant
from aedemo.spec import ModelSpec, suggested_train

BOTTLENECK_SWEEP = (2, 4, 8, 16, 32, 64)


@dataclass(frozen=True)
class ZooEntry:
    variant: str
    hparams: dict[str, Any] = field(default_factory=dict)
    epochs: int = 3        # on full MNIST (for a one-class detector, on its classes of MNIST)
    lr: float | None = None   # None: the variant's default
    normal: tuple[int, ...] = ()   # a one-class anomaly detector trained on these classes only
    subset: int = 0        # trained on this many training images only (repeated: same steps)


# A larger step than Adam's usual 0.001 for the few epochs the zoo can afford: on MNIST the
# dense sweep reaches about 20% lower test error in the same 5 epochs, and it stays stable.
FAST_LR = 3e-3
DETECTOR_EPOCHS = 3       # a one-class detector, on a full MNIST class (about 6,000 images)
DETECTOR = {"variant": "dense", "latent_dim": 16, "normal": (0,)}   # the Anomaly page's defaults
SPARSE_L1 = 0.7        # see aedemo.models.sparse: most units alive, each a stroke
# The Generate page's beta lesson: below 1 the codes spread out and reconstructions sharpen,
# above it units fall silent (posterior collapse); on the offline digits beta = 4 keeps about
# 11 of 16 units active, so "inactive units" are there to see.
BETAS = (0.25, 4.0)
OVERCOMPLETE_K = 1024     # a code wider than the image's 784 pixels: why a bottleneck at all
OVERFIT_SUBSETS = (100, 500)   # the same dense model on fewer digits: memorising, seen


def detector_entry(variant: str, latent_dim: int, normal: tuple[int, ...]) -> ZooEntry:
    """A one-class anomaly detector, trained on the ``normal`` classes only."""
    return ZooEntry(variant, {"latent_dim": latent_dim}, epochs=DETECTOR_EPOCHS,
                    normal=tuple(sorted(set(normal))))


# The order is the order they train in: the models the first pages show come first.
ZOO: tuple[ZooEntry, ...] = (
    ZooEntry("dense", {"latent_dim": 16}, epochs=5, lr=FAST_LR),
    ZooEntry("dense", {"latent_dim": 2}, epochs=5, lr=FAST_LR),
    ZooEntry("vae", {"latent_dim": 16}, epochs=5, lr=FAST_LR),
    ZooEntry("denoising", {"latent_dim": 16}, epochs=5, lr=FAST_LR),
    # the same budget at every k, so the sweep's error falls with k for the right reason
    *(ZooEntry("dense", {"latent_dim": k}, epochs=5, lr=FAST_LR) for k in BOTTLENECK_SWEEP
      if k not in (2, 16)),
    # fewer epochs than the sweep: trained longer, the L1 penalty switches more units off for
    # good (on the offline digits 47 of 64 fire after 22 epochs, 42 after 38)
    ZooEntry("sparse", {"latent_dim": 64, "l1": SPARSE_L1}, epochs=3, lr=FAST_LR),
    ZooEntry("vae", {"latent_dim": 2}, epochs=5, lr=FAST_LR),
    ZooEntry("conv", {"latent_dim": 16}, epochs=2, lr=FAST_LR),
    detector_entry(**DETECTOR),
    ZooEntry("lstm", {}, epochs=14),      # 3.6 s an epoch on 2 cores, whatever the image set
    # the controls and the sweeps that the pages compare with, after what every page needs:
    # the sparse network without its penalty (ReLU codes are partly zero anyway) ...
    ZooEntry("sparse", {"latent_dim": 64, "l1": 0.0}, epochs=3, lr=FAST_LR),
    # ... the VAE at other betas ...
    *(ZooEntry("vae", {"latent_dim": 16, "beta": b}, epochs=5, lr=FAST_LR) for b in BETAS),
    # ... a code wider than the image, and the k = 16 dense model on fewer digits
    # (fewer epochs: it has learned to copy by then; test MSE 0.0018 at 15 epochs on the
    # offline digits against 0.0016 at 38, and 6 s of the zoo's time saved)
    ZooEntry("dense", {"latent_dim": OVERCOMPLETE_K}, epochs=2, lr=FAST_LR),
    *(ZooEntry("dense", {"latent_dim": 16}, epochs=5, lr=FAST_LR, subset=n)
      for n in OVERFIT_SUBSETS),
)


def entry_spec(entry: ZooEntry, images: datasets.ImageData | None) -> ModelSpec:
    """The spec of one zoo entry on the app's image set (sequence variants use the series)."""
    if get_variant(entry.variant).kind == "sequence":
        train = suggested_train(entry.variant, mnist_epochs=entry.epochs, lr=entry.lr)
        return ModelSpec.create(entry.variant, entry.hparams, train=train)
    n_train = (count_of_classes(images.y_train, entry.normal) if entry.normal else
               len(images.x_train))
    train = suggested_train(entry.variant, n_train, mnist_epochs=entry.epochs, lr=entry.lr)
    # a subset fits in its set's steps: as many as the same model trained on all the images
    subset = min(entry.subset, len(images.x_train) // 2) if entry.subset else 0
    return ModelSpec.create(entry.variant, entry.hparams, dataset=images.source, train=train,
                            normal=entry.normal, subset=subset)


def detector_spec(images: datasets.ImageData, normal: tuple[int, ...], variant: str,
                  latent_dim: int) -> ModelSpec:
    """A one-class anomaly detector trained on the ``normal`` classes of ``images``, as the
    Anomaly page trains one; with the page's default settings it is the zoo's own detector, so
    the page has one on first open and training the defaults again finds it stored."""
    return entry_spec(detector_entry(variant, latent_dim, normal), images)


def zoo_specs(dataset: str = "mnist") -> list[ModelSpec]:
    """The zoo's specs on ``dataset`` (after any offline fallback); the LSTM uses the series."""
    images = datasets.load_images(dataset)
    return [entry_spec(entry, images) for entry in ZOO]
