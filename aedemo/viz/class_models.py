"""The Class page's charts of the class's models (aedemo.lessons.class_models): test error
against k with a point per student's model over the lesson's own curve, and the class's VAEs
on the rate-distortion plane as Generate draws every stored VAE."""

from __future__ import annotations

import plotly.graph_objects as go

from aedemo.lessons.class_models import ERROR_VARIANTS, YOURS, ClassModels
from aedemo.viz.generate import vae_rate_distortion_figure
from aedemo.viz.style import PALETTE, layout

RING = dict(size=20, color="rgba(0,0,0,0)", line=dict(color="#000", width=2))


def class_error_figure(cm: ClassModels) -> go.Figure:
    """Dense and conv models: test MSE against k (log axis), the lesson's models as a dashed
    line per variant, each student's model a point of the variant's colour; the viewer's own
    ringed."""
    fig = go.Figure()
    for i, variant in enumerate(ERROR_VARIANTS):
        colour = PALETTE[i % len(PALETTE)]
        reference = cm.reference.get(variant, [])
        if reference:
            fig.add_trace(go.Scatter(
                x=[k for k, _, _ in reference], y=[mse for _, mse, _ in reference],
                name=f"{variant}, the lesson's models", mode="lines+markers",
                line=dict(color=colour, dash="dash"), marker=dict(size=6, color=colour),
                hovertemplate=f"the lesson's {variant} k=%{{x}}: MSE %{{y:.4f}}<extra></extra>"))
        points = cm.errors.get(variant, [])
        if points:
            fig.add_trace(go.Scatter(
                x=[p.k for p in points], y=[p.value for p in points],
                name=f"{variant}, the class's models", mode="markers",
                marker=dict(size=11, color=colour, symbol="circle" if i == 0 else "diamond",
                            line=dict(color="#fff", width=1)),
                customdata=[[p.whose, p.model_id] for p in points],
                hovertemplate=f"{variant} k=%{{x}}: MSE %{{y:.4f}}<br>%{{customdata[0]}}"
                              "<br>model %{customdata[1]}<extra></extra>"))
    mine = [p for points in cm.errors.values() for p in points if p.mine]
    if mine:
        fig.add_trace(go.Scatter(x=[p.k for p in mine], y=[p.value for p in mine],
                                 name="yours", mode="markers", marker=RING, hoverinfo="skip"))
    ks = sorted({p.k for points in cm.errors.values() for p in points}
                | {k for ref in cm.reference.values() for k, _, _ in ref})
    fig.update_xaxes(type="log", tickvals=ks, ticktext=[str(k) for k in ks])
    return layout(fig, "The class's dense and conv models: test error against k",
                  "bottleneck size k (log scale)", "test MSE per pixel", height=400)


def class_vae_figure(cm: ClassModels) -> go.Figure:
    """The class's VAEs on the rate (KL) against distortion plane; the viewer's own ringed."""
    fig = vae_rate_distortion_figure(cm.vaes)
    mine = [p for p in cm.vaes if cm.vae_whose.get(p.model_id) == YOURS]
    if mine:
        fig.add_trace(go.Scatter(x=[p.rate for p in mine], y=[p.distortion for p in mine],
                                 name="yours", mode="markers", marker=RING, hoverinfo="skip"))
    fig.update_layout(title="The class's VAEs on the rate–distortion plane (lower left is "
                            "better)")
    return fig
