"""The Train page's live loss chart, its summary in words, and what its curves mean per
variant."""

from __future__ import annotations

import pytest

from aedemo.metrics import bce_floor
from aedemo.viz.train import curves_note, loss_curve, loss_summary, smoothed


def test_smoothing_is_tensorboards_debiased_moving_average():
    assert smoothed([5.0, 5.0, 5.0]) == pytest.approx([5.0, 5.0, 5.0])   # no pull towards 0
    a, b = 1.0, 3.0
    assert smoothed([a, b], weight=0.5) == pytest.approx([a, (0.25 * a + 0.5 * b) / 0.75])


def test_a_three_epoch_run_draws_every_batch_and_the_epochs_test_loss_apart():
    batches = [(i / 20, 100.0 - i) for i in range(1, 61)]
    history = [{"epoch": e, "train": {"loss": 90.0}, "test": {"loss": 95.0 - e}}
               for e in (1, 2, 3)]
    fig = loss_curve(history, batches)
    traces = {t.name: t for t in fig.data}
    assert len(traces["train, each batch"].x) == 60 and len(traces["train, smoothed"].y) == 60
    assert list(traces["test, after each epoch"].x) == [1, 2, 3]
    assert traces["train, smoothed"].line.color != traces["test, after each epoch"].line.color


def test_a_chart_before_the_first_epoch_ends_has_the_batches_already():
    fig = loss_curve([], [(0.1, 200.0), (0.2, 150.0)])
    assert [t.name for t in fig.data] == ["train, each batch", "train, smoothed"]


def test_progress_says_starting_before_the_first_batch_never_batch_0_of_0():
    from types import SimpleNamespace

    from aedemo import ui

    fresh = SimpleNamespace(batches=0, batch=0, epoch=0, epochs=3, fraction=0.0,
                            eta_seconds=None)
    assert "starting" in ui.progress_text(fresh, detail=True)
    assert "0 of 0" not in ui.progress_text(fresh, detail=True)
    running = SimpleNamespace(batches=63, batch=20, epoch=2, epochs=3, fraction=83 / 189,
                              eta_seconds=4.2)
    # the sidebar's short form is the start of the panel's long one: the same percentage
    assert ui.progress_text(running) == "44%"
    assert ui.progress_text(running, detail=True).startswith("44%: epoch 2 of 3, batch 20 of 63")


def test_each_test_point_says_how_many_items_it_was_measured_on():
    # the trainer's history: a sample of the test set per epoch, all of it after the last
    history = [{"epoch": e, "train": {"loss": 90.0}, "test": {"loss": 95.0 - e},
                "test_items": 2000 if e < 3 else 10000} for e in (1, 2, 3)]
    test = next(t for t in loss_curve(history).data if t.name == "test, after each epoch")
    assert list(test.customdata) == [2000, 2000, 10000]
    assert "%{customdata} test items" in test.hovertemplate


def test_the_loss_axis_names_its_unit_and_the_floor_is_a_labelled_line(digits):
    history = [{"epoch": 1, "train": {"loss": 150.0}, "test": {"loss": 140.0},
                "test_items": 359}]
    floor = bce_floor(digits.x_train)
    fig = loss_curve(history, [(0.5, 200.0), (1.0, 150.0)], kind="image", floor=floor)
    assert fig.layout.yaxis.title.text == "loss (nats per image)"
    assert [s.y0 for s in fig.layout.shapes] == [pytest.approx(floor)]
    assert fig.layout.annotations[0].text == (
        f"BCE floor: {floor:.0f} nats per image, no model goes below")
    # the LSTM's loss is its own: no nats, and no BCE floor
    series = loss_curve(history, kind="sequence")
    assert series.layout.yaxis.title.text == "loss (squared error per value)"
    assert not series.layout.shapes
    # a caller that says nothing gets no unit it cannot vouch for
    assert loss_curve(history).layout.yaxis.title.text == "loss per item"


def test_the_loss_chart_in_words_has_the_charts_numbers():
    batches = [(i / 10, 200.0 - i) for i in range(1, 31)]
    history = [{"epoch": e, "train": {"loss": 90.0}, "test": {"loss": 100.0 - e},
                "test_items": 2000} for e in (1, 2, 3)]
    said = loss_summary(history, batches, kind="image", floor=46.3)
    line = smoothed([y for _, y in batches])
    assert f"from {line[0]:.4g} to {line[-1]:.4g} nats per image over 3.0 epochs" in said
    assert "test loss after epoch 3: 97 on 2,000 test items" in said
    assert "floor, which no model goes below, is 46 nats per image" in said
    assert loss_summary([], []) == "No loss measured yet."


def test_what_the_curves_mean_depends_on_the_variant():
    memorise = "the model has started to memorise"
    plain = curves_note("dense", {"latent_dim": 16}, floor=46.3, dataset="mnist-5k")
    assert memorise in plain and "**46 nats per image**" in plain and "mnist-5k" in plain
    # the denoising model is trained on noisy inputs and tested on clean ones: its gap is not
    # read as memorising
    noisy = curves_note("denoising", {"noise_kind": "gaussian", "noise_level": 0.4})
    assert memorise not in noisy and "different tasks" in noisy
    assert "gaussian noise at level 0.4" in noisy
    sparse = curves_note("sparse", {"l1": 0.7})
    assert "include its penalties" in sparse and "λ = 0.7" in sparse
    vae = curves_note("vae", {"beta": 4.0})
    assert "−ELBO" in vae and "sampled" in vae and "β = 4" in vae
    assert "β" not in curves_note("vae", {"beta": 1.0}).split("−ELBO")[1].split(".")[0]
    lstm = curves_note("lstm", {}, kind="sequence")
    assert "mean squared error per value" in lstm and "nats per image" not in lstm
    # a one-class detector's test curve is on its normal digits only
    assert "normal digits' test images only" in plain
