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

    from aedemo import workers
    from aedemo.taskqueue import JobBoard, Key

    board = JobBoard(MemoryHuey("test"))
    reporter = workers._Reporter(board, "j1", digits.x_test[:2], threading.Event(),
                              threading.Event())
    model = build("dense", {"latent_dim": 4})
    fit(model, digits.x_train[:640], None, TrainConfig(epochs=3, batch_size=64),
        callbacks=(reporter,))
    points = board.get(Key.progress("j1"))["trace"]
    assert len(points) == 30 and points[-1][0] == pytest.approx(3.0)


def test_the_curve_is_on_a_fixed_sample_and_the_last_point_on_the_whole_test_set(mnist_folder):
    """Each epoch's test point but the last is measured on the same seeded EVAL_ITEMS of the
    test set, the last on all of it. The reference is aedemo.metrics.evaluate's BCE (computed
    from the reconstructions, not from the loss) on the same images at the same moment."""
    from aedemo.data import load_images
    from aedemo.metrics import evaluate
    from aedemo.train import EVAL_ITEMS, eval_subset

    real = load_images(str(mnist_folder))
    x_test = real.x_train                                   # 8,000: four times the sample
    subset = eval_subset(x_test, seed=0)
    assert len(subset) == EVAL_ITEMS and torch.equal(subset, eval_subset(x_test, seed=0))
    assert not torch.equal(subset, x_test[:EVAL_ITEMS])     # drawn, not the first ones
    assert len(eval_subset(x_test[:100], seed=0)) == 100    # a small test set is used whole

    seen = []

    class Reference(Callback):
        def on_epoch(self, p):
            seen.append({"sample": evaluate(p.model, subset)["bce"],
                         "whole": evaluate(p.model, x_test)["bce"]})

    model = build("dense", {"latent_dim": 8})
    history = fit(model, real.x_test, x_test, TrainConfig(epochs=3, batch_size=64),
                  callbacks=(Reference(),))
    assert [e["test_items"] for e in history] == [EVAL_ITEMS, EVAL_ITEMS, len(x_test)]
    for entry, ref in zip(history[:-1], seen):
        assert entry["test"]["recon"] == pytest.approx(ref["sample"], rel=1e-4)
        assert entry["test"]["recon"] != pytest.approx(ref["whole"], rel=1e-4)
    assert history[-1]["test"]["recon"] == pytest.approx(seen[-1]["whole"], rel=1e-4)
    assert history[-1]["test"]["recon"] == pytest.approx(evaluate(model, x_test)["bce"],
                                                         rel=1e-4)


def test_evaluating_does_not_move_the_training_stream(digits):
    """The VAE samples its code when it is evaluated: with or without a test set, the same seed
    trains the same weights."""
    def train(x_test):
        model = build("vae", {"latent_dim": 4})
        fit(model, digits.x_train[:256], x_test, TrainConfig(epochs=2, batch_size=64))
        return model.state_dict()

    a, b = train(None), train(digits.x_test[:100])
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_the_seed_sets_the_initial_weights_as_its_help_says(monkeypatch):
    """The Train page's Seed widget and the CLI's --seed show this help: it must name every
    thing the seed decides, the initial weights first (spec.train_spec builds with it)."""
    from aedemo import spec as spec_module
    from aedemo.spec import ModelSpec

    help_text = TrainConfig.__dataclass_fields__["seed"].metadata["help"]
    assert "initial weights" in help_text and "batches" in help_text and "noise" in help_text
    built = {}

    class Built(Exception):
        pass

    def spy(variant, hparams=None, *, seed=0):
        built["seed"] = seed
        raise Built

    monkeypatch.setattr(spec_module, "build", spy)
    monkeypatch.setattr(spec_module, "training_data", lambda spec: (None, None))
    with pytest.raises(Built):
        spec_module.train_spec(ModelSpec.create("dense", {}, dataset="digits",
                                                train=TrainConfig(seed=7)))
    assert built["seed"] == 7
    a, b = build("dense", seed=7).state_dict(), build("dense", seed=8).state_dict()
    assert not all(torch.equal(a[k], b[k]) for k in a)
