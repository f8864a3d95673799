"""The Home page's figure: the architecture diagram, redrawn as the bottleneck moves."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go


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
