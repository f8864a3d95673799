from __future__ import annotations

import threading

import pytest
import torch

from aedemo.models import build
from aedemo.train import (
    Callback,
    LossTrace,
    TrainConfig,
    TrainingDiverged,
    TrainingStopped,
    fit,
)


def test_history_has_train_and_test_terms_per_epoch(digits):
    model = build("vae", {"latent_dim": 4})
    history = fit(model, digits.x_train[:512], digits.x_test[:128], TrainConfig(epochs=2))
    assert [h["epoch"] for h in history] == [1, 2]
    for entry in history:
        assert set(entry["train"]) == {"loss", "recon", "kl"} == set(entry["test"])
    assert history[1]["train"]["loss"] < history[0]["train"]["loss"]


def test_same_seed_gives_the_same_weights(digits):
    def train(seed):
        model = build("denoising", seed=seed)
        fit(model, digits.x_train[:300], None, TrainConfig(epochs=2, batch_size=64, seed=seed))
        return model.state_dict()

    a, b, c = train(1), train(1), train(2)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_stop_event_ends_training_between_batches(digits):
    stop = threading.Event()
    seen = []

    class StopAfterThree(Callback):
        def on_batch(self, p):
            seen.append(p.batch)
            if p.batch == 3:
                stop.set()

    with pytest.raises(TrainingStopped):
        fit(build("dense"), digits.x_train, None, TrainConfig(epochs=5, batch_size=32),
            callbacks=(StopAfterThree(),), stop=stop)
    assert seen == [1, 2, 3]


def test_a_huge_learning_rate_gives_a_clear_error(digits):
    with pytest.raises(TrainingDiverged, match="learning rate .* too high.*Try a learning rate"):
        fit(build("dense"), digits.x_train, None, TrainConfig(epochs=3, lr=1.0))


def test_nan_in_the_data_is_reported_as_divergence(digits):
    x = digits.x_train[:64].clone()
    x[3, 0, 10, 10] = float("nan")
    with pytest.raises(TrainingDiverged, match="not a number"):
        fit(build("dense"), x, None, TrainConfig(epochs=1, batch_size=64))


def test_callbacks_see_every_batch_and_epoch(digits):
    events = []

    class Record(Callback):
        def on_batch(self, p):
            events.append(("batch", p.epoch, p.batch, round(p.fraction, 3)))

        def on_epoch(self, p):
            events.append(("epoch", p.epoch, len(p.history)))

    fit(build("dense"), digits.x_train[:100], None, TrainConfig(epochs=2, batch_size=50),
        callbacks=(Record(),))
    assert events == [("batch", 1, 1, 0.25), ("batch", 1, 2, 0.5), ("epoch", 1, 1),
                      ("batch", 2, 1, 0.75), ("batch", 2, 2, 1.0), ("epoch", 2, 2)]


def test_a_short_run_keeps_every_batchs_loss():
    trace = LossTrace(size=1024)
    for i in range(30):
        trace.add(i / 10, float(i))
    assert trace.points() == tuple((i / 10, float(i)) for i in range(30))


def test_a_long_run_keeps_its_shape_in_a_bounded_trace():
    """The reference is the plain mean over equal bins of the whole run."""
    trace = LossTrace(size=64)
    losses = [100.0 / (1 + i / 50) for i in range(10_000)]
    for i, loss in enumerate(losses):
        trace.add(i / 100, loss)
    points = trace.points()
    assert len(points) <= 64
    xs, ys = zip(*points)
    assert list(xs) == sorted(xs) and xs[0] < 3 and xs[-1] > 97          # the whole run
    stride = round(10_000 / (len(points) - 1))                         # batches per point
    assert ys[0] == pytest.approx(sum(losses[:stride]) / stride)
    assert max(ys) <= losses[0] and min(ys) >= losses[-1]


def test_the_live_chart_gets_every_batch_of_a_short_job(digits):
    """What a student sees of a 3-epoch run, as the worker reports it on the board: many
    points, not three dots."""
    from huey import MemoryHuey

    from aedemo import jobs
    from aedemo.taskqueue import Board

    board = Board(MemoryHuey("test"))
    reporter = jobs._Reporter(board, "j1", digits.x_test[:2], threading.Event(),
                              threading.Event())
    model = build("dense", {"latent_dim": 4})
    fit(model, digits.x_train[:640], None, TrainConfig(epochs=3, batch_size=64),
        callbacks=(reporter,))
    points = board.get(jobs.progress_key("j1"))["trace"]
    assert len(points) == 30 and points[-1][0] == pytest.approx(3.0)
