"""Frames of the latent map while a model trains: where a fixed sample of test digits lands in
the code space every second or so of training, so a student can watch the clusters form.

The sample is the same FRAME_ITEMS test digits for every job on a dataset (seeded, an equal
share of each class), coded in eval mode without gradients by ``FrameRecorder``, a trainer
callback that leaves the training itself untouched (its weights and random streams: a test
holds it to that). Each frame is 2-D: the code itself when k = 2, else PCA aligned to the
previous frame (aedemo.projection.plane), so the map never flips or jumps between frames.

At most MAX_FRAMES are kept: past that, every other frame is dropped and the interval doubles,
so a long run keeps frames evenly spread over all of it. After training they are stored beside
the model (aedemo.store) as a safetensors file, read back only after the checks of
``LatentFrames.from_bytes``: the file is as untrusted as every other file of the store.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors

from aedemo.projection import plane
from aedemo.train import Callback, Progress

FRAME_ITEMS = 500          # test digits per frame: enough for every cluster's shape
FRAME_SEED = 0             # the same sample for every job on a dataset, whatever its own seed
FRAME_EVERY_S = 1.0        # seconds of training between frames, doubled at each thinning
MAX_FRAMES = 80            # kept per job (even: thinning keeps the first and the last)
FORMAT = "aedemo-frames/1"
# 80 frames x 500 points x 2 float16 is 160 kB; a frames file much larger is not one we wrote
MAX_FRAMES_BYTES = 1_000_000


class FramesUnusable(ValueError):
    """A frames file that cannot be replayed; the message is a plain sentence's ending."""


def frame_sample(labels: torch.Tensor, items: int = FRAME_ITEMS,
                 seed: int = FRAME_SEED) -> torch.Tensor:
    """Indices (sorted) of ``items`` test items: an equal share of each class drawn with
    ``seed``, the remainder from the rest, so every digit has its cluster even on a small or
    uneven test set; all of them when there are no more."""
    n = len(labels)
    if n <= items:
        return torch.arange(n)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    classes = torch.unique(labels)
    share = items // len(classes)
    chosen = torch.cat([order[labels[order] == c][:share] for c in classes])
    rest = order[~torch.isin(order, chosen)][:items - len(chosen)]
    return torch.cat([chosen, rest]).sort().values


@dataclass(frozen=True)
class LatentFrames:
    """A job's frames: ``points`` (F, N, 2) for the N sample digits of ``labels`` (N,), their
    places in the test set ``indices`` (N,), each frame at ``at`` (F,) epochs of training
    (fractional: 2.5 is half-way through epoch 3)."""

    at: np.ndarray            # (F,) float32, non-decreasing
    points: np.ndarray        # (F, N, 2) float16
    labels: np.ndarray        # (N,) uint8
    indices: np.ndarray       # (N,) int32

    def __len__(self) -> int:
        return len(self.at)

    def to_bytes(self) -> bytes:
        return save_safetensors({"at": torch.from_numpy(self.at.astype(np.float32)),
                                 "points": torch.from_numpy(self.points.astype(np.float16)),
                                 "labels": torch.from_numpy(self.labels.astype(np.uint8)),
                                 "indices": torch.from_numpy(self.indices.astype(np.int32))},
                                metadata={"format": FORMAT})

    @classmethod
    def from_bytes(cls, payload: bytes) -> LatentFrames:
        """The frames in a file's bytes, or FramesUnusable saying what is wrong with them:
        not safetensors, other tensors, shapes that disagree, numbers that are not finite."""
        if len(payload) > MAX_FRAMES_BYTES:
            raise FramesUnusable(f"the file is too large ({len(payload):,} bytes)")
        try:
            t = load_safetensors(payload)
        except (SafetensorError, ValueError) as err:
            raise FramesUnusable(f"the file is corrupt or truncated ({err})") from None
        want = {"at": torch.float32, "points": torch.float16, "labels": torch.uint8,
                "indices": torch.int32}
        if set(t) != set(want) or any(t[k].dtype != d for k, d in want.items()):
            raise FramesUnusable("the file holds other data than a map's frames")
        at, points, labels, indices = (t[k].numpy() for k in ("at", "points", "labels",
                                                                 "indices"))
        frames, items = len(at), len(labels)
        if not (at.ndim == 1 and points.ndim == 3 and points.shape == (frames, items, 2)
                and indices.shape == (items,) and 0 < frames <= MAX_FRAMES
                and 0 < items <= FRAME_ITEMS):
            raise FramesUnusable("its shapes do not agree with each other")
        if not (np.isfinite(at).all() and np.isfinite(points).all()):
            raise FramesUnusable("it holds numbers that are not finite")
        if (np.diff(at) < 0).any() or (indices < 0).any():
            raise FramesUnusable("its frames are out of order")
        return cls(at=at, points=points, labels=labels, indices=indices)


class FrameRecorder(Callback):
    """A trainer callback that codes the fixed sample ``x`` after the first batch, then every
    ``every_s`` seconds of training and at every epoch's end, keeping at most ``limit`` frames
    (see the module's docstring). ``publish`` (if given) gets each new frame as (at, points,
    labels): the worker puts it on the job board (aedemo.job.JobFrame)."""

    def __init__(self, x: torch.Tensor, labels: torch.Tensor, indices: torch.Tensor, *,
                 every_s: float = FRAME_EVERY_S, limit: int = MAX_FRAMES,
                 publish: Callable[[float, np.ndarray, np.ndarray], None] | None = None):
        self.x, self.every_s, self.limit, self.publish = x, every_s, limit, publish
        self.labels = labels.numpy().astype(np.uint8)
        self.indices = indices.numpy().astype(np.int32)
        self._at: list[float] = []
        self._points: list[np.ndarray] = []
        self._last_s = -np.inf

    def on_batch(self, p: Progress) -> None:
        if p.seconds - self._last_s >= self.every_s:
            self._take(p, p.epoch - 1 + p.batch / p.batches)

    def on_epoch(self, p: Progress) -> None:
        if not self._at or self._at[-1] != p.epoch:
            self._take(p, float(p.epoch))

    @torch.no_grad()
    def _take(self, p: Progress, at: float) -> None:
        model = p.model
        was_training = model.training
        model.eval()           # no dropout, no batch statistics moved: training is untouched
        try:
            device = next(model.parameters()).device
            codes = model.encode(self.x.to(device)).float().cpu().numpy()   # (N, k); a VAE's mu
        finally:
            model.train(was_training)
        points = plane(codes, self._points[-1] if self._points else None)
        # kept as float16, as stored: the next frame aligns to what the student sees
        self._points.append(points.astype(np.float16))
        self._at.append(at)
        self._last_s = p.seconds
        if len(self._at) > self.limit:
            self._at, self._points = self._at[::2], self._points[::2]
            self.every_s *= 2
        if self.publish is not None:
            self.publish(at, self._points[-1], self.labels)

    def frames(self) -> LatentFrames | None:
        """Every kept frame, or None before the first."""
        if not self._at:
            return None
        return LatentFrames(at=np.array(self._at, np.float32), points=np.stack(self._points),
                            labels=self.labels, indices=self.indices)


def epochs_text(at: float) -> str:
    """A frame's time as the slider and the titles say it: "0.05", "2.5", "10"."""
    return f"{at:.2f}".rstrip("0").rstrip(".")


def separation(points: np.ndarray, labels: np.ndarray) -> float:
    """How far apart the classes' clusters lie for how wide they are: the mean distance between
    the classes' centres over the mean distance of a point to its own class's centre. Near 1
    (or below) the digits are mixed in one cloud; it grows as the clusters form and part. It
    does not change with the map's scale, rotation or reflection, so frames compare fairly."""
    points = np.asarray(points, np.float64)
    classes = np.unique(labels)
    if len(classes) < 2:
        return float("nan")
    centres = np.stack([points[labels == c].mean(axis=0) for c in classes])
    within = np.mean([np.linalg.norm(points[labels == c] - centres[i], axis=1).mean()
                      for i, c in enumerate(classes)])
    apart = np.linalg.norm(centres[:, None] - centres[None], axis=2)
    between = apart.sum() / (len(classes) * (len(classes) - 1))
    return float(between / within) if within > 0 else float("inf")


def describe_formation(frames: LatentFrames, shown: int) -> str:
    """What the replay shows at frame ``shown``, in words: the clusters' separation then,
    against the first and the last frame's."""
    def sep(i: int) -> str:
        return f"{separation(frames.points[i], frames.labels):.1f}"

    first, last = 0, len(frames) - 1
    now = (f"After {epochs_text(frames.at[shown])} epochs of training the digit classes' "
           f"clusters lie {sep(shown)} times as far apart as they are wide")
    if len(frames) == 1:
        return now + "."
    return (now + f" (after {epochs_text(frames.at[first])} epochs: {sep(first)}; at the end, "
            f"after {epochs_text(frames.at[last])}: {sep(last)}). The higher, the more the "
            f"model has sorted the digits without ever seeing a label.")


def recorder_for(spec, publish: Callable[[float, np.ndarray, np.ndarray], None] | None = None
                 ) -> FrameRecorder | None:
    """The recorder of an image model's latent map while it trains, on the same FRAME_ITEMS
    test digits for every model of its dataset (a job in the worker, and the command line's
    train and pretrain, so the zoo's models replay too); None for a sequence model."""
    from aedemo import data as datasets

    if spec.kind != "image":
        return None
    d = datasets.load_dataset(spec.dataset, spec.kind)
    chosen = frame_sample(d.y_test, FRAME_ITEMS)
    return FrameRecorder(d.x_test[chosen], d.y_test[chosen], chosen, publish=publish)
