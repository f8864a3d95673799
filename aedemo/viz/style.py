"""Shared plotly styling."""

from __future__ import annotations

import plotly.graph_objects as go

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf")


def layout(fig: go.Figure, title: str, x: str, y: str, height: int = 340) -> go.Figure:
    """Title, axis names, compact margins and the legend under the plot."""
    fig.update_layout(title=title, xaxis_title=x, yaxis_title=y, height=height,
                      margin=dict(l=10, r=10, t=40, b=10), legend=dict(orientation="h", y=-0.25))
    return fig
