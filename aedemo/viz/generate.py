"""The Generate page's charts: the VAE's loss split into reconstruction and KL per epoch, and
the KL of each code unit, which shows how many units the model actually uses."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from aedemo.viz.style import PALETTE


def loss_terms_figure(train: Mapping[str, Sequence[float]],
                      test: Mapping[str, Sequence[float]] | None = None, *,
                      beta: float = 1.0) -> go.Figure:
    """Reconstruction and KL per epoch on two y axes (the reconstruction term is one or two
    orders larger); train solid, test dashed."""
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    for split, terms, dash in (("train", train, "solid"), ("test", test, "dash")):
        if not terms or not terms.get("epoch"):
            continue
        fig.add_trace(go.Scatter(x=terms["epoch"], y=terms["recon"], mode="lines+markers",
                                 name=f"{split} reconstruction", line=dict(color=PALETTE[0],
                                                                           dash=dash)),
                      secondary_y=False)
        fig.add_trace(go.Scatter(x=terms["epoch"], y=terms["kl"], mode="lines+markers",
                                 name=f"{split} KL", line=dict(color=PALETTE[1], dash=dash)),
                      secondary_y=True)
    fig.update_layout(title=f"The loss, reconstruction + beta x KL, with beta = {beta:g}",
                      height=340, margin=dict(l=10, r=10, t=40, b=10),
                      legend=dict(orientation="h", y=-0.25))
    fig.update_xaxes(title_text="epoch")
    # both axes from zero, so the sizes of the two terms can be compared honestly
    fig.update_yaxes(title_text="reconstruction (BCE per image)", secondary_y=False,
                     color=PALETTE[0], rangemode="tozero")
    fig.update_yaxes(title_text="KL per image (nats)", secondary_y=True, color=PALETTE[1],
                     rangemode="tozero", tickmode="auto", showgrid=False)
    return fig


def kl_per_dimension_figure(kl: np.ndarray, threshold: float) -> go.Figure:
    """One bar per code unit, coloured by whether it is active (KL above ``threshold``)."""
    kl = np.asarray(kl, dtype=float)
    active = kl > threshold
    fig = go.Figure(go.Bar(
        x=[f"z{j + 1}" for j in range(len(kl))], y=kl,
        marker_color=[PALETTE[0] if a else "#bbb" for a in active],
        hovertemplate="%{x}: %{y:.3f} nats<extra></extra>"))
    fig.update_layout(title=f"KL per code unit: {int(active.sum())} of {len(kl)} active "
                            f"(KL > {threshold:g} nats)",
                      xaxis_title="code unit", yaxis_title="mean KL (nats)", height=300,
                      margin=dict(l=10, r=10, t=40, b=10), showlegend=False)
    return fig
