"""The Train page's figure: the loss curve as a model trains (its job panel shows on the
Anomaly detection and Sequences pages too)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go

from aedemo.viz.style import PALETTE, layout

TRAIN_COLOUR, TEST_COLOUR = PALETTE[0], PALETTE[4]       # blue and orange, apart for everyone
SMOOTHING = 0.9          # the smoothed line's exponential moving average, as TensorBoard's


def smoothed(values: Sequence[float], weight: float = SMOOTHING) -> list[float]:
    """An exponential moving average with its start-up bias taken out (the first values are
    not pulled towards zero), as TensorBoard smooths a training curve."""
    out, average = [], 0.0
    for i, v in enumerate(values, start=1):
        average = weight * average + (1 - weight) * v
        out.append(average / (1 - weight ** i))
    return out


def loss_curve(history: Sequence[dict[str, Any]],
               batch_losses: Sequence[tuple[float, float]] = (),
               title: str = "Loss as it trains") -> go.Figure:
    """The training loss after every batch, faint, with its smoothed line over it, and the test
    loss after every epoch as points: a 3-epoch run already has a curve to watch. The x axis
    counts epochs, so 2.5 is half-way through the third."""
    fig = go.Figure()
    if batch_losses:
        x, y = zip(*batch_losses)
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines", name="train, each batch",
                                 line=dict(color=TRAIN_COLOUR, width=1), opacity=0.3,
                                 hoverinfo="skip"))
        fig.add_trace(go.Scatter(x=x, y=smoothed(y), mode="lines", name="train, smoothed",
                                 line=dict(color=TRAIN_COLOUR, width=3)))
    else:          # a stored model's history: the training loss per epoch
        fig.add_trace(go.Scatter(x=[e["epoch"] for e in history],
                                 y=[e["train"].get("loss") for e in history],
                                 mode="lines+markers", name="train",
                                 line=dict(color=TRAIN_COLOUR, width=3)))
    tested = [e for e in history if e.get("test")]
    if tested:
        fig.add_trace(go.Scatter(x=[e["epoch"] for e in tested],
                                 y=[e["test"]["loss"] for e in tested], mode="lines+markers",
                                 name="test, after each epoch",
                                 # a sample of the test set per epoch, all of it after the last
                                 # (aedemo.train.EVAL_ITEMS); older histories do not say
                                 customdata=[e.get("test_items", "the") for e in tested],
                                 hovertemplate="epoch %{x}: %{y:.4g} on %{customdata} test "
                                               "items<extra></extra>",
                                 line=dict(color=TEST_COLOUR, width=2, dash="dot"),
                                 marker=dict(size=10, color=TEST_COLOUR)))
    return layout(fig, title, "epoch", "loss per item")
