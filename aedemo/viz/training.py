"""Loss curves (Train page) and the architecture diagram (Home page)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
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
                                 line=dict(color=TEST_COLOUR, width=2, dash="dot"),
                                 marker=dict(size=10, color=TEST_COLOUR)))
    return layout(fig, title, "epoch", "loss per item")


def architecture_figure(layers: Sequence[tuple[str, str]], title: str = "") -> go.Figure:
    """Encoder, bottleneck and decoder as boxes whose heights follow the log of each layer's
    size, so the narrowing to the code is visible; the code box is highlighted."""
    fig = go.Figure()

    def size_of(label: str) -> float:
        numbers = [int(t) for t in label.replace("x", " ").split() if t.isdigit()]
        return float(np.prod(numbers)) if numbers else 64.0

    heights = [math.log2(size_of(size) + 1) for _, size in layers]
    top = max(heights)
    for i, ((name, size), h) in enumerate(zip(layers, heights)):
        colour = "#d62728" if name == "code" else ("#1f77b4" if i < len(layers) / 2
                                                   else "#2ca02c")
        fig.add_shape(type="rect", x0=i - 0.35, x1=i + 0.35, y0=-h / 2, y1=h / 2,
                      fillcolor=colour, opacity=0.75, line=dict(width=0))
        fig.add_annotation(x=i, y=top / 2 + 0.8, text=f"<b>{name}</b>", showarrow=False)
        fig.add_annotation(x=i, y=-top / 2 - 0.8, text=size, showarrow=False)
    fig.add_trace(go.Scatter(x=list(range(len(layers))), y=[0] * len(layers), mode="lines",
                             line=dict(color="#999", width=1), hoverinfo="skip",
                             showlegend=False))
    fig.update_xaxes(visible=False, range=[-0.6, len(layers) - 0.4])
    fig.update_yaxes(visible=False, range=[-top / 2 - 1.6, top / 2 + 1.6])
    fig.update_layout(title=title, height=260, margin=dict(l=10, r=10, t=40, b=10),
                      plot_bgcolor="rgba(0,0,0,0)")
    return fig
