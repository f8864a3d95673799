"""The latent map's frames while a model trains (aedemo.latent_frames): the fixed sample, the
2-D projection that never flips between frames, the bounded count, the wire form on the job
board, and training left exactly as it is without them."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from scipy.linalg import orthogonal_procrustes
from sklearn.decomposition import PCA

from aedemo.job import JobFrame
from aedemo.latent_frames import (
    FRAME_ITEMS,
    FrameRecorder,
    LatentFrames,
    frame_sample,
    recorder_for,
)
from aedemo.models import build
from aedemo.projection import plane, procrustes_rotation
from aedemo.train import TrainConfig, fit


def test_the_sample_is_fixed_and_an_equal_share_of_each_class():
    labels = torch.cat([torch.full((n,), c) for c, n in enumerate(range(200, 1200, 100))])
    a, b = frame_sample(labels), frame_sample(labels)
    assert torch.equal(a, b) and len(a) == FRAME_ITEMS and len(set(a.tolist())) == FRAME_ITEMS
    assert torch.bincount(labels[a]).tolist() == [50] * 10
    assert not torch.equal(frame_sample(labels, seed=1), a)          # the seed does choose
    assert torch.equal(frame_sample(labels[:300]), torch.arange(300))   # a small set: all of it


def test_procrustes_is_scipys():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(50, 2)), rng.normal(size=(50, 2))
    np.testing.assert_allclose(procrustes_rotation(a, b), orthogonal_procrustes(a, b)[0],
                               atol=1e-12)


def test_k_2_is_the_code_itself():
    codes = np.random.default_rng(0).normal(size=(40, 2)).astype(np.float32)
    np.testing.assert_array_equal(plane(codes, previous=-codes), codes)


def drifting_codes(frames: int = 30, n: int = 300, k: int = 8) -> list[np.ndarray]:
    """A cloud in k dimensions whose two widest directions have nearly the same spread, turned
    a little in the code space at every frame and drifting slightly: a training run's codes, in
    the case that makes plain PCA flip and swap its axes between frames."""
    rng = np.random.default_rng(0)
    base = rng.normal(size=(n, k)) * np.array([3.0, 2.9, 1, 0.5, 0.4, 0.3, 0.2, 0.1])[:k]
    turn = np.linalg.qr(rng.normal(size=(k, k)))[0]
    step = np.real(_matrix_power(turn, 1 / 15))          # a 15th of a random rotation per frame
    out, now = [], np.eye(k)
    for _ in range(frames):
        base = base + rng.normal(scale=0.02, size=base.shape)
        out.append(base @ now)
        now = now @ step
    return out


def _matrix_power(m: np.ndarray, p: float) -> np.ndarray:
    values, vectors = np.linalg.eig(m)
    return vectors @ np.diag(values ** p) @ np.linalg.inv(vectors)


def step_sizes(frames: list[np.ndarray]) -> np.ndarray:
    """How far the points move between frames, relative to the cloud's spread."""
    return np.array([np.abs(b - a).mean() / np.abs(a).mean() for a, b in zip(frames, frames[1:])])


def test_the_projection_neither_flips_nor_jumps_between_frames():
    codes = drifting_codes()
    aligned = []
    for c in codes:
        aligned.append(plane(c, aligned[-1] if aligned else None))
    # the reference: plain PCA per frame, as sklearn fits it, does flip or swap somewhere
    plain = [PCA(2).fit_transform(c) for c in codes]
    assert step_sizes(plain).max() > 0.5
    assert step_sizes(aligned).max() < 0.05
    # only turned, never scaled: the spread of each frame is its PCA's
    for a, p in zip(aligned, plain):
        np.testing.assert_allclose(np.linalg.norm(a), np.linalg.norm(p), rtol=1e-5)


def fake_training(recorder: FrameRecorder, model, epochs: int, batches: int,
                  seconds_per_batch: float) -> None:
    from aedemo.train import Progress

    p = Progress(epoch=1, epochs=epochs, batch=0, batches=batches, loss=0.0, model=model)
    for epoch in range(1, epochs + 1):
        for b in range(1, batches + 1):
            p.epoch, p.batch = epoch, b
            p.seconds += seconds_per_batch
            recorder.on_batch(p)
        recorder.on_epoch(p)


def test_a_long_run_keeps_a_bounded_number_of_frames_spread_over_all_of_it(digits):
    x = digits.x_test[:50]
    recorder = FrameRecorder(x, digits.y_test[:50], torch.arange(50), every_s=1.0, limit=16)
    fake_training(recorder, build("dense", {"latent_dim": 4}), epochs=20, batches=50,
                  seconds_per_batch=0.1)     # 100 s of training: 100 frames at one a second
    frames = recorder.frames()
    assert 8 < len(frames) <= 16
    assert frames.at[0] == pytest.approx(1 / 50) and frames.at[-1] == 20
    gaps = np.diff(frames.at)
    assert gaps.max() < 3 * np.median(gaps)          # evenly thinned, not only the end kept
    assert frames.points.shape == (len(frames), 50, 2) and frames.points.dtype == np.float16


def test_a_short_run_gets_a_frame_a_second_and_one_at_every_epochs_end(digits):
    recorder = FrameRecorder(digits.x_test[:20], digits.y_test[:20], torch.arange(20))
    model = build("vae", {"latent_dim": 2}).train()
    fake_training(recorder, model, epochs=2, batches=10, seconds_per_batch=0.25)
    assert model.training                           # coded in eval mode, then given back
    at = recorder.frames().at.tolist()
    assert at == pytest.approx([0.1, 0.5, 0.9, 1.0, 1.4, 1.8, 2.0])


@pytest.mark.parametrize("variant", ["vae", "denoising", "dense"])
def test_training_with_frames_gives_the_same_weights(digits, variant):
    """Frames taken after every batch change nothing of training: not the weights, not the
    random streams (the VAE's sampling, the denoising corruption), not the train mode."""
    def train(with_frames: bool):
        model = build(variant, {"latent_dim": 3}, seed=0)
        recorder = FrameRecorder(digits.x_test[:64], digits.y_test[:64], torch.arange(64),
                                 every_s=0.0)
        fit(model, digits.x_train[:320], digits.x_test[:64], TrainConfig(epochs=2, batch_size=64),
            callbacks=(recorder,) if with_frames else ())
        return model.state_dict(), recorder

    plain, _ = train(False)
    framed, recorder = train(True)
    assert len(recorder.frames()) == 10     # after every batch, the epochs' ends among them
    assert all(torch.equal(plain[k], framed[k]) for k in plain)


def test_a_vae_frame_is_its_posterior_mean(digits):
    model = build("vae", {"latent_dim": 2}).eval()
    recorder = FrameRecorder(digits.x_test[:30], digits.y_test[:30], torch.arange(30))
    fake_training(recorder, model, epochs=1, batches=1, seconds_per_batch=1)
    with torch.no_grad():
        mu = model.encode(digits.x_test[:30]).numpy()
    np.testing.assert_allclose(recorder.frames().points[0], mu, atol=2e-3, rtol=2e-3)


def test_the_latest_frame_travels_small_and_whole():
    rng = np.random.default_rng(0)
    frame = JobFrame(at=1.5, points=rng.normal(size=(FRAME_ITEMS, 2)).astype(np.float16),
                     labels=rng.integers(0, 10, FRAME_ITEMS))
    import json

    wire = json.dumps(frame.to_json())
    assert len(wire) < 4000
    back = JobFrame.from_json(json.loads(wire))
    assert back.at == 1.5 and back.labels.tolist() == frame.labels.tolist()
    np.testing.assert_array_equal(back.points, frame.points.astype(np.float32))
    assert JobFrame.from_json({"at": 1, "points": "!!", "labels": ""}) is None
    assert JobFrame.from_json(None) is None


def test_the_worker_puts_the_latest_frame_on_the_board(digits):
    from huey import MemoryHuey

    from aedemo import workers
    from aedemo.spec import ModelSpec
    from aedemo.taskqueue import JobBoard, Key

    board = JobBoard(MemoryHuey("frames"))
    spec = ModelSpec.create("dense", {"latent_dim": 2}, dataset="digits")
    recorder = recorder_for(spec, lambda at, points, labels: board.put(
        Key.frame("j1"), JobFrame(at, points, labels).to_json()))
    reporter = workers._Reporter(board, "j1", digits.x_test[:2], threading.Event(),
                                 threading.Event())
    fit(build("dense", {"latent_dim": 2}), digits.x_train[:256], None,
        TrainConfig(epochs=1, batch_size=64), callbacks=(reporter, recorder))
    frame = JobFrame.from_json(board.get(Key.frame("j1")))
    assert frame.at == 1.0 and frame.points.shape == (min(FRAME_ITEMS, len(digits.y_test)), 2)
    np.testing.assert_array_equal(frame.labels, recorder.frames().labels)
    assert isinstance(recorder.frames(), LatentFrames)
