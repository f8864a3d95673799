"""The Latent space page's figure, the latent map (the Draw page marks it too): test-set codes
in 2D coloured by class, each point's digit drawn as a small text thumbnail in its hover label
(plotly cannot put pictures in a hover), and new inputs such as a drawing marked on top."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
import torch

from aedemo.viz.style import PALETTE, layout

# Darkest to brightest ink, one character per grey level band.
SHADES = " ░▒▓█"


def text_thumbnail(image: torch.Tensor | np.ndarray, size: int = 14) -> str:
    """A 28x28 image as ``size`` lines of block characters joined by <br>, for a hover label."""
    arr = np.asarray(image, dtype=np.float32).reshape(28, 28)
    step = 28 // size
    small = arr[: size * step, : size * step].reshape(size, step, size, step).mean(axis=(1, 3))
    levels = np.clip((small * len(SHADES)).astype(int), 0, len(SHADES) - 1)
    return "<br>".join("".join(SHADES[v] * 2 for v in row) for row in levels)


def latent_scatter(points: np.ndarray, labels: np.ndarray, class_names: Sequence[str], *,
                   images: torch.Tensor | None = None, indices: np.ndarray | None = None,
                   marked: dict[str, np.ndarray] | None = None, title: str = "",
                   axis_names: tuple[str, str] = ("z1", "z2")) -> go.Figure:
    """One trace per class so the legend can hide classes; ``customdata`` holds each point's
    test-set index, which a selection hands back to the page. ``marked`` adds named stars."""
    fig = go.Figure()
    indices = np.arange(len(points)) if indices is None else indices
    for c in np.unique(labels):
        mask = labels == c
        hover = None
        if images is not None:
            hover = [text_thumbnail(images[i]) for i in indices[mask]]
        fig.add_trace(go.Scattergl(
            x=points[mask, 0], y=points[mask, 1], mode="markers",
            name=class_names[int(c)] if int(c) < len(class_names) else str(c),
            marker=dict(size=5, color=PALETTE[int(c) % len(PALETTE)], opacity=0.7),
            customdata=indices[mask], text=hover,
            hovertemplate=("%{text}<br>" if hover else "") + "test image %{customdata}"
                          "<extra>%{fullData.name}</extra>"))
    for name, xy in (marked or {}).items():
        fig.add_trace(star(name, xy))
    fig.update_layout(hoverlabel=dict(font_family="monospace", font_size=9),
                      dragmode="lasso")
    return layout(fig, title, *axis_names, height=520)


def star(name: str, xy: np.ndarray) -> go.Scatter:
    """A named black star at each point of ``xy`` (n, 2), drawn over the class scatter."""
    xy = np.asarray(xy).reshape(-1, 2)
    return go.Scatter(x=xy[:, 0], y=xy[:, 1], mode="markers+text", name=name,
                      text=[name] * len(xy), textposition="top center",
                      marker=dict(size=18, symbol="star", color="black",
                                  line=dict(color="white", width=1)))
