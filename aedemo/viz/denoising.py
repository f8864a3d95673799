"""The Denoising page's chart: PSNR against noise level for each denoiser and the noisy input."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import plotly.graph_objects as go

from aedemo.viz.style import PALETTE, layout


def psnr_by_level_figure(levels: Sequence[float], curves: Mapping[str, Sequence[float]], *,
                         kind: str, marked_level: float | None = None,
                         baseline: str = "noisy input",
                         trained_level: float | None = None) -> go.Figure:
    """One line per method; the noisy input (what no denoiser at all scores) is grey and
    dashed, so a method is useful where its line is above it. ``marked_level`` (the level the
    page shows) and ``trained_level`` (the one the denoising autoencoder trained on, when it
    trained on this kind) are labelled vertical lines."""
    fig = go.Figure()
    colours = iter(PALETTE)
    for name, values in curves.items():
        is_base = name == baseline
        fig.add_trace(go.Scatter(
            x=list(levels), y=list(values), name=name, mode="lines+markers",
            line=dict(color="#666" if is_base else next(colours), dash="dash" if is_base else
                      "solid"),
            hovertemplate=f"{name}: %{{y:.1f}} dB at level %{{x}}<extra></extra>"))
    if marked_level is not None:
        fig.add_vline(x=marked_level, line=dict(color="#666", dash="dot"),
                      annotation_text=f"shown: {marked_level:g}",
                      annotation_position="bottom right")
    if trained_level is not None:
        fig.add_vline(x=trained_level, line=dict(color="#000", width=2),
                      annotation_text=f"trained at {trained_level:g}",
                      annotation_position="top right")
    label = "noise sigma" if kind == "gaussian" else "fraction of pixels hit"
    return layout(fig, f"PSNR against {kind} noise level (higher is better)", label,
                  "mean PSNR (dB)", height=380)
