"""The Sparse and conv page's figures: code activation histograms, and convolution filters and
feature maps as heatmap mosaics (a diverging scale for weights, so sign is visible)."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import plotly.graph_objects as go

from aedemo.viz.style import PALETTE, layout


def activation_histogram(values: Mapping[str, np.ndarray], bins: int = 60) -> go.Figure:
    """Overlaid histograms of code activations, one per model in the given order (the last is
    drawn on top), as a share of all activations: a sparse code piles up at zero, a dense one
    spreads out."""
    fig = go.Figure()
    arrays = {name: np.asarray(v, dtype=float) for name, v in values.items()}
    # the same bins for every trace, so their heights compare
    low = min((a.min() for a in arrays.values() if a.size), default=0.0)
    high = max((a.max() for a in arrays.values() if a.size), default=1.0)
    size = (high - low) / bins or 1.0
    for i, (name, v) in enumerate(arrays.items()):
        fig.add_trace(go.Histogram(x=v, name=name, histnorm="probability", opacity=0.6,
                                   xbins=dict(start=low, end=high + size, size=size),
                                   marker_color=PALETTE[i % len(PALETTE)]))
    # log scale: the sparse code's spike at zero would otherwise flatten everything else
    fig.update_layout(barmode="overlay")
    fig.update_yaxes(type="log")
    return layout(fig, "Code activations over the test images", "activation",
                  "share of activations (log scale)", height=340)


def mosaic(maps: np.ndarray, columns: int, pad: int = 1) -> np.ndarray:
    """(B, H, W) -> one (rows*(H+pad)-pad, columns*(W+pad)-pad) array, gutters NaN so a
    heatmap leaves them blank."""
    b, h, w = maps.shape
    rows = max(1, math.ceil(b / columns))
    out = np.full((rows * (h + pad) - pad, columns * (w + pad) - pad), np.nan)
    for i, m in enumerate(maps):
        r, c = divmod(i, columns)
        out[r * (h + pad): r * (h + pad) + h, c * (w + pad): c * (w + pad) + w] = m
    return out


def _heatmap(grid: np.ndarray, title: str, *, diverging: bool, height: int) -> go.Figure:
    limit = float(np.nanmax(np.abs(grid))) or 1.0
    fig = go.Figure(go.Heatmap(
        z=grid, colorscale="RdBu" if diverging else "Greys", reversescale=not diverging,
        zmid=0 if diverging else None, zmin=-limit if diverging else 0,
        zmax=limit, hoverongaps=False, hovertemplate="%{z:.3f}<extra></extra>",
        colorbar=dict(thickness=10)))
    fig.update_yaxes(autorange="reversed", visible=False, scaleanchor="x")
    fig.update_xaxes(visible=False)
    fig.update_layout(title=title, height=height, margin=dict(l=10, r=10, t=40, b=10),
                      plot_bgcolor="rgba(0,0,0,0)")
    return fig


def filters_figure(weights: np.ndarray, columns: int = 8) -> go.Figure:
    """First-layer kernels (C, kh, kw) side by side: red negative, blue positive weights."""
    return _heatmap(mosaic(weights, columns), f"The {len(weights)} first-layer 3x3 filters",
                    diverging=True, height=260)


def feature_maps_figure(maps: np.ndarray, title: str, columns: int = 8) -> go.Figure:
    """Feature maps (C, H, W) after a ReLU, dark where a filter fires; each map is scaled to
    its own maximum so weak detectors stay visible."""
    peak = maps.reshape(len(maps), -1).max(axis=1)
    scaled = maps / np.where(peak > 0, peak, 1.0)[:, None, None]
    rows = math.ceil(len(maps) / columns)
    return _heatmap(mosaic(scaled, columns), title, diverging=False, height=90 + 70 * rows)
