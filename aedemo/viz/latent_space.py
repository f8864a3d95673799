"""The Latent space page's figures. The latent map (the Draw page marks it too): test-set codes
in 2D, each digit class in its own colour and shape, each point's digit drawn as a small text
thumbnail in its hover label (plotly cannot put pictures in a hover), and new inputs such as a
drawing marked on top. And the code plane of a 2D code, drawn with the prior's circles, for a
plain autoencoder's map and a VAE's side by side on one scale."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
import torch

from aedemo.viz.style import DIGIT_COLOURS, DIGIT_SYMBOLS, MARKER_OUTLINE, layout

# Darkest to brightest ink, one character per grey level band.
SHADES = " ░▒▓█"
CIRCLE_STEPS = 97         # points on a drawn circle or ellipse: smooth at any zoom


def text_thumbnail(image: torch.Tensor | np.ndarray, size: int = 14) -> str:
    """A 28x28 image as ``size`` lines of block characters joined by <br>, for a hover label."""
    arr = np.asarray(image, dtype=np.float32).reshape(28, 28)
    step = 28 // size
    small = arr[: size * step, : size * step].reshape(size, step, size, step).mean(axis=(1, 3))
    levels = np.clip((small * len(SHADES)).astype(int), 0, len(SHADES) - 1)
    return "<br>".join("".join(SHADES[v] * 2 for v in row) for row in levels)


def class_label(class_names: Sequence[str], c: int) -> str:
    """A class as the legend names it: "digit 3" for a digit, else the class's own name."""
    name = class_names[c] if c < len(class_names) else str(c)
    return f"digit {name}" if name.isdigit() else name


def latent_scatter(points: np.ndarray, labels: np.ndarray, class_names: Sequence[str], *,
                   images: torch.Tensor | None = None, indices: np.ndarray | None = None,
                   marked: dict[str, np.ndarray] | None = None, title: str = "",
                   axis_names: tuple[str, str] = ("z1", "z2"), point_note: str = "",
                   height: int = 520) -> go.Figure:
    """One trace per class so the legend can hide classes, each in its own colour and marker
    shape (aedemo.viz.style: colour is never the only cue); ``customdata`` holds each point's
    test-set index, which a selection hands back to the page. ``point_note`` is added to each
    hover label (what a point is, such as a VAE's posterior mean). ``marked`` adds named
    stars."""
    fig = go.Figure()
    indices = np.arange(len(points)) if indices is None else indices
    note = f"<br>{point_note}" if point_note else ""
    for c in np.unique(labels):
        mask = labels == c
        hover = None
        if images is not None:
            hover = [text_thumbnail(images[i]) for i in indices[mask]]
        fig.add_trace(go.Scattergl(
            x=points[mask, 0], y=points[mask, 1], mode="markers",
            name=class_label(class_names, int(c)),
            marker=dict(size=7, color=DIGIT_COLOURS[int(c) % len(DIGIT_COLOURS)],
                        symbol=DIGIT_SYMBOLS[int(c) % len(DIGIT_SYMBOLS)], opacity=0.8,
                        line=dict(color=MARKER_OUTLINE, width=0.5)),
            customdata=indices[mask], text=hover,
            hovertemplate=("%{text}<br>" if hover else "") + "test image %{customdata}" + note
                          + "<extra>%{fullData.name}</extra>"))
    for name, xy in (marked or {}).items():
        fig.add_trace(star(name, xy))
    fig.update_layout(hoverlabel=dict(font_family="monospace", font_size=9),
                      dragmode="lasso")
    return layout(fig, title, *axis_names, height=height)


def star(name: str, xy: np.ndarray) -> go.Scatter:
    """A named black star at each point of ``xy`` (n, 2), drawn over the class scatter."""
    xy = np.asarray(xy).reshape(-1, 2)
    return go.Scatter(x=xy[:, 0], y=xy[:, 1], mode="markers+text", name=name,
                      text=[name] * len(xy), textposition="top center",
                      # black, and not cut off at the plot's edge: read by all, wherever it lands
                      textfont=dict(color="black"), cliponaxis=False,
                      marker=dict(size=18, symbol="star", color="black",
                                  line=dict(color="white", width=1)))


def ellipse(mean: np.ndarray, cov: np.ndarray, radius: float) -> np.ndarray:
    """The points at Mahalanobis distance ``radius`` from ``mean`` under ``cov``: (CIRCLE_STEPS,
    2), closed. With mean 0 and cov I, the circle of that radius."""
    t = np.linspace(0.0, 2 * np.pi, CIRCLE_STEPS)
    unit = np.stack([np.cos(t), np.sin(t)], axis=1)                     # (steps, 2)
    return np.asarray(mean) + radius * unit @ np.linalg.cholesky(cov).T


def outline(name: str, xy: np.ndarray, dash: str) -> go.Scattergl:
    """A named black outline (a circle or an ellipse) over a map; hovering it says its name.
    Left out of the legend, which names the classes only: two maps side by side then have
    legends of one size and plot areas of one size (the page names the outlines in words).
    WebGL like the class markers: plotly draws its WebGL layer over the SVG one, where an SVG
    line would hide under the points."""
    return go.Scattergl(x=xy[:, 0], y=xy[:, 1], mode="lines", name=name, hoverinfo="name",
                        showlegend=False, line=dict(color="black", width=2, dash=dash))


def extent(*codes: np.ndarray, least: float = 2.5) -> float:
    """Half the width of a square view centred on the origin that holds every code given, and
    at least the prior's 2 sigma circle: one scale for several maps."""
    reach = max([float(np.abs(c).max()) for c in codes if len(c)], default=0.0)
    return max(reach * 1.05, least)


def code_plane_figure(points: np.ndarray, labels: np.ndarray, class_names: Sequence[str], *,
                      radii: Sequence[float], title: str, axis_names: tuple[str, str],
                      point_note: str = "", fitted: tuple[np.ndarray, np.ndarray] | None = None,
                      fitted_radius: float = 2.0, half_width: float | None = None,
                      indices: np.ndarray | None = None) -> go.Figure:
    """A 2D code's map with the prior N(0, I)'s circles of the given radii (in sigma) on it,
    and a fitted Gaussian's ellipse when ``fitted`` = (mean, cov) is given. ``half_width``
    fixes a square view around the origin, so two maps drawn with the same one share a scale;
    the y axis is tied to the x axis, so a circle is drawn round."""
    fig = latent_scatter(points, labels, class_names, indices=indices, title=title,
                         axis_names=axis_names, point_note=point_note, height=480)
    for r in radii:
        fig.add_trace(outline(f"N(0, I): {r:g}σ circle", ellipse(np.zeros(2), np.eye(2), r),
                              "solid" if r == radii[0] else "dash"))
    if fitted is not None:
        fig.add_trace(outline(f"fitted Gaussian: {fitted_radius:g}σ ellipse",
                              ellipse(*fitted, fitted_radius), "dot"))
    if half_width is not None:
        # constrain="domain": a wide plot area shrinks to a square instead of widening the
        # range, so every map drawn with this half_width shows exactly the same square
        fig.update_xaxes(range=[-half_width, half_width], constrain="domain")
        fig.update_yaxes(range=[-half_width, half_width], constrain="domain")
    fig.update_yaxes(scaleanchor="x", scaleratio=1)
    fig.update_layout(dragmode="zoom")
    return fig


def map_figure(_model, data, shown, title: str, axis_names: tuple[str, str],
               point_note: str) -> go.Figure:
    """The map ``shown`` (a lessons.latent_space.LatentMap of the test set) as a chart, for
    Service.derived: kept per model and map, since each point's hover picture is slow."""
    return latent_scatter(shown.points, shown.labels, data.classes, images=data.x_test,
                          indices=shown.indices, title=title, axis_names=axis_names,
                          point_note=point_note)
