from __future__ import annotations

import threading

import pytest
import torch

from aedemo.models import build
from aedemo.train import Callback, TrainConfig, TrainingDiverged, TrainingStopped, fit


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
