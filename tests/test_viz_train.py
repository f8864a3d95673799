"""The Train page's live loss chart."""

from __future__ import annotations

import pytest

from aedemo.viz.train import loss_curve, smoothed


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
