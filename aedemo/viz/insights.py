"""The Sparse and conv page's figures: code activation histograms, and convolution filters and
feature maps as heatmap mosaics (a diverging scale for weights, so sign is visible); and each
figure's summary in words, from the same numbers, for a student who cannot see it."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import plotly.graph_objects as go

from aedemo.models.sparse import NEAR_ZERO
from aedemo.viz.style import PALETTE, layout


def activation_histogram(values: Mapping[str, np.ndarray],
                         title: str = "Code activations over the test images",
                         bins: int = 60) -> go.Figure:
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
    fig.update_yaxes(type="log", exponentformat="power")      # 10^-4, not plotly's "100µ"
    return layout(fig, title, "activation",
                  "share of activations (log scale)", height=340)


def activation_summary(values: Mapping[str, np.ndarray]) -> str:
    """The histogram in words: per model, its share of (near) zero activations and its
    largest one."""
    parts = []
    for name, v in values.items():
        v = np.asarray(v, dtype=float)
        if v.size:
            parts.append(f"{name}: {(np.abs(v) < NEAR_ZERO).mean():.0%} of {v.size:,} "
                         f"activations are near zero, the largest is {v.max():.2f}")
    return "Histogram of code activations. " + "; ".join(parts) + "."


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


def _heatmap(grid: np.ndarray, title: str, *, diverging: bool, height: int,
             raw: np.ndarray | None = None) -> go.Figure:
    """A mosaic as a heatmap. With ``raw`` (the unscaled values, as ``grid``), the colour is
    each map's own scale, so there is no colourbar (one bar would claim a scale the maps do
    not share) and hovering shows the raw value beside the scaled one."""
    limit = float(np.nanmax(np.abs(grid))) or 1.0
    extra: dict = dict(colorbar=dict(thickness=10), hovertemplate="%{z:.3f}<extra></extra>")
    if raw is not None:
        extra = dict(showscale=False, customdata=raw,
                     hovertemplate="activation %{customdata:.3f}, %{z:.0%} of this map's "
                                   "maximum<extra></extra>")
    fig = go.Figure(go.Heatmap(
        z=grid, colorscale="RdBu" if diverging else "Greys", reversescale=not diverging,
        zmid=0 if diverging else None, zmin=-limit if diverging else 0,
        zmax=limit, hoverongaps=False, **extra))
    fig.update_yaxes(autorange="reversed", visible=False, scaleanchor="x")
    fig.update_xaxes(visible=False)
    fig.update_layout(title=title, height=height, margin=dict(l=10, r=10, t=40, b=10),
                      plot_bgcolor="rgba(0,0,0,0)")
    return fig


def filters_figure(weights: np.ndarray, columns: int = 8) -> go.Figure:
    """First-layer kernels (C, kh, kw) side by side on one shared scale: red negative, blue
    positive weights."""
    return _heatmap(mosaic(weights, columns),
                    f"The {len(weights)} first-layer 3x3 filters (red negative, blue positive)",
                    diverging=True, height=260)


def filters_summary(weights: np.ndarray) -> str:
    """The filters in words: their number, the range of their weights, and how many have a
    mostly positive (ink-seeking) or a mostly negative sum."""
    sums = weights.reshape(len(weights), -1).sum(axis=1)
    return (f"{len(weights)} first-layer {weights.shape[1]}x{weights.shape[2]} filters, "
            f"weights from {weights.min():.2f} to {weights.max():.2f}; "
            f"{int((sums > 0).sum())} have weights summing above zero, "
            f"{int((sums <= 0).sum())} at or below zero.")


def feature_maps_figure(maps: np.ndarray, title: str, columns: int = 8) -> go.Figure:
    """Feature maps (C, H, W) after a ReLU, black where a filter is silent and white where it
    fires most, as a digit's ink is drawn. Each map is scaled to its own maximum so weak
    detectors stay visible; the title says so, there is no shared colourbar, and hovering gives
    the raw activation."""
    peak = maps.reshape(len(maps), -1).max(axis=1)
    scaled = maps / np.where(peak > 0, peak, 1.0)[:, None, None]
    rows = math.ceil(len(maps) / columns)
    return _heatmap(mosaic(scaled, columns),
                    f"{title}, each map scaled to its own maximum (white)",
                    diverging=False, height=90 + 70 * rows, raw=mosaic(maps, columns))


def feature_maps_summary(maps: np.ndarray, what: str, strongest: int = 3) -> str:
    """One layer's maps in words: how many, of what size, which respond most strongly and
    how many are silent."""
    peak = maps.reshape(len(maps), -1).max(axis=1)
    order = [int(i) for i in np.argsort(-peak, kind="stable")[:strongest] if peak[i] > 0]
    silent = int((peak <= 0).sum())
    top = ", ".join(f"map {i + 1} (peak {peak[i]:.2f})" for i in order)
    return (f"{what}: {len(maps)} feature maps of {maps.shape[1]}x{maps.shape[2]}, each "
            f"scaled to its own maximum. Strongest: {top or 'none'}. Maps that are zero "
            f"everywhere on this digit: {silent}.")
