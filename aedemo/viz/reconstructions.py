"""The Reconstructions page's charts: test error against bottleneck size k, for PCA and the
autoencoders whose k is the size of their code, on a log k axis (each step doubles the code);
and the overfitting demo's training and test loss per epoch."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import plotly.graph_objects as go

from aedemo.lessons.reconstructions_bottleneck import LossCurve
from aedemo.viz.style import PALETTE, layout

PCA_NAME = "PCA (linear)"


def rate_distortion_figure(pca: Sequence[tuple[int, float]],
                           variants: Mapping[str, Sequence[tuple]], *,
                           marked_k: int | None = None,
                           title: str = "Test error against bottleneck size k") -> go.Figure:
    """``pca``: [(k, MSE)]; ``variants``: {variant: [(k, MSE, ...)]}, one trace each. A dotted
    vertical line marks the k on the slider. Fewer numbers in the code (left) means more
    compression and more error."""
    fig = go.Figure()
    if pca:
        ks, mse = zip(*pca)
        fig.add_trace(go.Scatter(x=list(ks), y=list(mse), name=PCA_NAME, mode="lines+markers",
                                 line=dict(color="black", dash="dash"),
                                 hovertemplate="PCA k=%{x}: MSE %{y:.4f}<extra></extra>"))
    for i, (variant, points) in enumerate(sorted(variants.items())):
        ks = [p[0] for p in points]
        mse = [p[1] for p in points]
        fig.add_trace(go.Scatter(x=ks, y=mse, name=variant, mode="lines+markers",
                                 marker=dict(size=9), line=dict(color=PALETTE[i % len(PALETTE)]),
                                 hovertemplate=f"{variant} k=%{{x}}: MSE %{{y:.4f}}"
                                               "<extra></extra>"))
    if marked_k is not None:
        fig.add_vline(x=marked_k, line=dict(color="#767676", dash="dot"))
    all_k = sorted({p[0] for p in pca} | {p[0] for pts in variants.values() for p in pts})
    fig.update_xaxes(type="log", tickvals=all_k, ticktext=[str(k) for k in all_k])
    return layout(fig, title, "bottleneck size k (log scale)", "test MSE per pixel", height=380)


def overfitting_figure(curves: Sequence[LossCurve], *,
                       title: str = "Training and test loss on fewer digits") -> go.Figure:
    """Each model's loss per epoch in one colour: training solid, test dashed, so the gap
    between a model's two lines is what it memorised and could not carry over."""
    fig = go.Figure()
    for i, curve in enumerate(curves):
        colour = PALETTE[i % len(PALETTE)]
        for split, values, dash in (("training", curve.train, "solid"),
                                    ("test", curve.test, "dash")):
            fig.add_trace(go.Scatter(
                x=curve.epochs, y=values, name=f"{curve.label}, {split}", mode="lines",
                line=dict(color=colour, dash=dash, width=2.5), legendgroup=curve.label,
                hovertemplate=f"{curve.label}, {split}, epoch %{{x}}: %{{y:.1f}} nats"
                              "<extra></extra>"))
    return layout(fig, title, "epoch", "BCE loss (nats per image)", height=380)
