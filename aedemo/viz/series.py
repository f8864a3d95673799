"""Time series against their reconstructions."""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go
import torch

from aedemo.viz.style import PALETTE


def series_figure(inputs: torch.Tensor, recons: torch.Tensor | None = None,
                  titles: Sequence[str] = (), title: str = "") -> go.Figure:
    """Series (B, T, 1) as small stacked line charts, reconstructions dashed on top."""
    from plotly.subplots import make_subplots

    b = len(inputs)
    fig = make_subplots(rows=b, cols=1, shared_xaxes=True, vertical_spacing=0.04,
                        subplot_titles=list(titles) or None)
    for i in range(b):
        fig.add_trace(go.Scatter(y=inputs[i, :, 0].tolist(), name="input", mode="lines",
                                 line=dict(color=PALETTE[0]), showlegend=i == 0), row=i + 1, col=1)
        if recons is not None:
            fig.add_trace(go.Scatter(y=recons[i, :, 0].tolist(), name="reconstruction",
                                     mode="lines", line=dict(color=PALETTE[1], dash="dash"),
                                     showlegend=i == 0), row=i + 1, col=1)
    fig.update_layout(title=title, height=110 * b + 60, margin=dict(l=10, r=10, t=40, b=10))
    return fig
