"""One training loop for every variant.

Nothing here knows which autoencoder it trains: the model's ``forward`` returns its own loss and
named terms. The data stays in one tensor on the device and batches are slices of a shuffled
index, so there is no per-sample Python work (the usual DataLoader + ToTensor pipeline spends most
of its time there on a CPU).

The test loss after each epoch is measured on a fixed, seeded sample of the test set, and after
the last epoch on the whole of it, so the stored history ends on the same full test set as the
final metrics.
"""

from __future__ import annotations

import math
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import torch

from aedemo.models.base import CheckedConfig, hparam


@dataclass(frozen=True)
class TrainConfig(CheckedConfig):
    """Training settings, with the ranges the Train page's widgets and the CLI's flags read;
    ``from_dict`` checks a value from outside against them."""

    epochs: int = hparam(5, low=1, high=100,
                         help="Passes over the training set; a small dataset needs more")
    batch_size: int = hparam(256, low=16, high=2048, help="Images per gradient step")
    lr: float = hparam(1e-3, low=1e-5, high=1.0, log=True, help="Adam learning rate")
    seed: int = hparam(0, low=0, high=2**31 - 1,
                       help="Seed for the initial weights, the order of the batches and the "
                            "random noise (the denoising corruption, the VAE's sampling): the "
                            "same seed and settings train the same model")


class TrainingDiverged(RuntimeError):
    """The loss stopped being a finite number or exploded; the message says what to try."""


class TrainingStopped(Exception):
    """The stop event was set: the caller asked training to end early."""


@dataclass
class Progress:
    """What callbacks see: where training is and what it has measured so far."""

    epoch: int                       # 1-based, the epoch in progress
    epochs: int
    batch: int                       # 1-based, the batch just done
    batches: int                     # per epoch
    loss: float                      # the last batch's loss
    history: list[dict[str, Any]] = field(default_factory=list)   # finished epochs
    seconds: float = 0.0
    model: Any = None                # the model being trained, for callbacks that look at it

    @property
    def fraction(self) -> float:
        return ((self.epoch - 1) * self.batches + self.batch) / (self.epochs * self.batches)


class LossTrace:
    """The training loss after every batch, kept at a bounded size for a live chart: once it
    holds ``size`` points, neighbours are merged in pairs into their means, so a 100-epoch run
    keeps its whole shape in at most ``size`` points, and a 3-epoch one every batch."""

    def __init__(self, size: int = 1024):
        self.size = size
        self._stride = 1                     # batches per kept point
        self._points: list[tuple[float, float]] = []
        self._pending: list[tuple[float, float]] = []

    def add(self, epochs: float, loss: float) -> None:
        """One batch's loss, at ``epochs`` (fractional: 2.5 is half-way through epoch 3)."""
        self._pending.append((epochs, loss))
        if len(self._pending) < self._stride:
            return
        self._points.append(_mean_point(self._pending))
        self._pending = []
        if len(self._points) >= self.size:
            pairs = zip(self._points[0::2], self._points[1::2])
            self._points = [_mean_point(pair) for pair in pairs]
            self._stride *= 2

    def points(self) -> tuple[tuple[float, float], ...]:
        """(epochs, loss) pairs, oldest first, the batches not yet merged included."""
        tail = [_mean_point(self._pending)] if self._pending else []
        return tuple(self._points + tail)


def _mean_point(points) -> tuple[float, float]:
    points = list(points)
    return (sum(x for x, _ in points) / len(points), sum(y for _, y in points) / len(points))


class Callback:
    """Override what you need; both run on the training thread, so keep them quick."""

    def on_batch(self, progress: Progress) -> None: ...

    def on_epoch(self, progress: Progress) -> None: ...


_threads_set = False


def pick_device() -> torch.device:
    """CUDA when present; otherwise the CPU with torch's threads set to the cores we may use."""
    global _threads_set
    if torch.cuda.is_available():
        return torch.device("cuda")
    if not _threads_set and "OMP_NUM_THREADS" not in os.environ:   # an explicit setting wins
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        torch.set_num_threads(max(1, cores or 1))
    _threads_set = True
    return torch.device("cpu")


# A loss this many times the untrained model's is treated as divergence even while finite:
# with BCE on logits an exploded network saturates at huge but finite losses.
EXPLODED = 20.0


def _diverged(value: float, epoch: int, batch: int, lr: float) -> TrainingDiverged:
    what = "not a number" if math.isnan(value) else f"{value:.3g}"
    return TrainingDiverged(
        f"Training diverged: the loss became {what} at epoch {epoch}, batch {batch}. "
        f"The learning rate ({lr:g}) is probably too high, so each step overshoots and the "
        f"weights blow up. Try a learning rate 10 times smaller ({lr / 10:g}); 0.001 is a safe "
        f"default for Adam.")


# The per-epoch test point is a curve to watch, not a result: measured on a fixed sample of this
# many test items (the same every epoch), and on the whole test set after the last epoch only.
# A dense model's per-image test BCE has a spread of about 30 nats around a mean of 90 on MNIST,
# so 2,000 items put the mean within about 0.7 nats (1%) of the full set's; and being the same
# items every epoch, that offset is nearly constant, so the curve's shape (what a student reads)
# is closer still. 2,000 forward passes cost about 1% of a 60,000-image epoch, where the full
# 10,000 cost 5-6% of every epoch.
EVAL_ITEMS = 2000


def eval_subset(x_test: torch.Tensor, seed: int, items: int = EVAL_ITEMS) -> torch.Tensor:
    """The fixed sample of x_test the per-epoch curve is measured on: ``items`` of them drawn
    with ``seed`` (kept in the test set's order), or all of x_test when it has no more."""
    if len(x_test) <= items:
        return x_test
    chosen = torch.randperm(len(x_test), generator=torch.Generator().manual_seed(seed))[:items]
    return x_test[chosen.sort().values.to(x_test.device)]


@torch.no_grad()
def mean_terms(model, x: torch.Tensor, *, batch_size: int = 1024,
               rng: torch.Generator | None = None) -> dict[str, float]:
    """The loss and each named term averaged over x, in eval mode (no dropout, no corruption)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    totals: dict[str, float] = {}
    for i in range(0, len(x), batch_size):
        xb = x[i:i + batch_size].to(device, non_blocking=True)
        out = model(xb, rng=rng)
        weight = len(xb) / len(x)
        for name, value in {"loss": out.loss, **out.terms}.items():
            totals[name] = totals.get(name, 0.0) + value.item() * weight
    model.train(was_training)
    return totals


def fit(model, x_train: torch.Tensor, x_test: torch.Tensor | None, cfg: TrainConfig, *,
        callbacks: tuple[Callback, ...] = (), stop: threading.Event | None = None,
        device: torch.device | None = None) -> list[dict[str, Any]]:
    """Train ``model`` on x_train with Adam; return the history, one entry per epoch:
    {"epoch", "seconds", "train": {"loss", <terms>}, "test": {...}, "test_items"}. The test terms
    are on ``eval_subset(x_test)`` after each epoch but the last, and on all of x_test after
    the last; "test_items" says how many items each was measured on.

    Raises TrainingStopped when ``stop`` is set (checked between batches) and TrainingDiverged
    on a non-finite or exploding loss. The same seed gives the same weights.
    """
    device = device or pick_device()
    model.to(device).train()
    x_train = x_train.to(device)
    x_test = x_test.to(device) if x_test is not None else None
    shuffle_rng = torch.Generator().manual_seed(cfg.seed)              # index order, on the CPU
    noise_rng = torch.Generator(device=device).manual_seed(cfg.seed + 1)   # corruption, sampling
    x_curve = eval_subset(x_test, cfg.seed) if x_test is not None else None
    # The fused kernel updates every parameter in one pass: about 20% faster per epoch on a
    # 2-core CPU for the dense model than the default per-tensor loop.
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, fused=True)
    clip = getattr(model, "max_grad_norm", None)      # a variant may ask for gradient clipping
    n = len(x_train)
    batches = math.ceil(n / cfg.batch_size)
    history: list[dict[str, Any]] = []
    progress = Progress(epoch=1, epochs=cfg.epochs, batch=0, batches=batches, loss=math.nan,
                        history=history, model=model)
    start = time.perf_counter()
    first_loss: float | None = None
    for epoch in range(1, cfg.epochs + 1):
        order = torch.randperm(n, generator=shuffle_rng).to(device)
        sums: dict[str, torch.Tensor] = {}
        for b in range(batches):
            if stop is not None and stop.is_set():
                raise TrainingStopped()
            xb = x_train[order[b * cfg.batch_size:(b + 1) * cfg.batch_size]]
            out = model(xb, rng=noise_rng)
            optimizer.zero_grad(set_to_none=True)
            out.loss.backward()
            if clip is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
            optimizer.step()
            loss = out.loss.item()
            first_loss = loss if first_loss is None else first_loss
            if not math.isfinite(loss) or loss > EXPLODED * max(first_loss, 1e-3):
                raise _diverged(loss, epoch, b + 1, cfg.lr)
            for name, value in {"loss": out.loss, **out.terms}.items():
                sums[name] = sums.get(name, 0.0) + value.detach() * len(xb)
            progress.epoch, progress.batch, progress.loss = epoch, b + 1, loss
            progress.seconds = time.perf_counter() - start
            for cb in callbacks:
                cb.on_batch(progress)
        entry: dict[str, Any] = {"epoch": epoch,
                                 "train": {k: v.item() / n for k, v in sums.items()}, "test": {}}
        if x_test is not None:
            x_eval = x_test if epoch == cfg.epochs else x_curve
            # its own generator, seeded afresh each time: every point sees the same sampling
            # noise (the VAE samples its code), and evaluating never moves the training stream
            eval_rng = torch.Generator(device=device).manual_seed(cfg.seed + 2)
            entry["test"] = mean_terms(model, x_eval, rng=eval_rng)
            entry["test_items"] = len(x_eval)
        if not all(math.isfinite(v) for v in entry["test"].values()):
            raise _diverged(entry["test"]["loss"], epoch, batches, cfg.lr)
        progress.seconds = entry["seconds"] = time.perf_counter() - start
        history.append(entry)
        for cb in callbacks:
            cb.on_epoch(progress)
    model.eval()
    return history
