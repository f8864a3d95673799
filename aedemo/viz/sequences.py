"""Sequences against their reconstructions, with the error at every time step beneath, so the
place where an anomaly sits shows up as a bump in the error."""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go
import torch

from aedemo.viz.style import PALETTE


def series_with_error(inputs: torch.Tensor, recons: torch.Tensor, titles: Sequence[str] = (),
                      title: str = "") -> go.Figure:
    """Series (B, T, 1) and their reconstructions, one small chart each, with the squared error
    per time step as a shaded area on a second axis at the right."""
    from plotly.subplots import make_subplots

    b = len(inputs)
    fig = make_subplots(rows=b, cols=1, shared_xaxes=True, vertical_spacing=0.07,
                        subplot_titles=list(titles) or None,
                        specs=[[{"secondary_y": True}] for _ in range(b)])
    error = (recons - inputs).pow(2)[..., 0]                                 # (B, T)
    top = float(error.max()) * 1.1 if error.numel() else 1.0
    for i in range(b):
        first = i == 0
        fig.add_trace(go.Scatter(y=error[i].tolist(), name="squared error per step",
                                 mode="lines", fill="tozeroy", line=dict(color=PALETTE[4], width=0),
                                 fillcolor="rgba(255, 127, 14, 0.35)", showlegend=first),
                      row=i + 1, col=1, secondary_y=True)
        fig.add_trace(go.Scatter(y=inputs[i, :, 0].tolist(), name="input", mode="lines",
                                 line=dict(color=PALETTE[0]), showlegend=first),
                      row=i + 1, col=1)
        fig.add_trace(go.Scatter(y=recons[i, :, 0].tolist(), name="reconstruction",
                                 mode="lines", line=dict(color=PALETTE[1], dash="dash"),
                                 showlegend=first), row=i + 1, col=1)
        # one error scale for every row, so a big bump in one row is big in all; its numbers
        # would only crowd the chart (the title gives each row's mean)
        fig.update_yaxes(range=[0, top], showgrid=False, showticklabels=False, row=i + 1,
                         col=1, secondary_y=True)
    height = 150 * b + 140
    fig.update_layout(title=title, height=height, margin=dict(l=10, r=10, t=60, b=90),
                      legend=dict(orientation="h", x=0, y=-70 / height, yanchor="top"))
    fig.update_xaxes(title_text="time step", row=b, col=1)
    return fig
