"""The Draw page's figures: the test set's latent map and its error histogram, built once per
model and kept as plain data (``frozen``), then marked on every stroke with the drawing's star
and line without plotly validating them again."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from aedemo.viz.anomaly import error_histogram, mark_line
from aedemo.viz.latent_space import latent_scatter, star
from aedemo.viz.style import frozen, thawed


def drawn_in_svg(fig: dict) -> dict:
    """A frozen figure with its WebGL scatters (Scattergl) drawn as SVG ones, the same in every
    other property. The Draw page's map is drawn afresh after every stroke (Streamlit gives a
    chart with a new figure a new identity, so the browser mounts it anew), and a WebGL plot
    starts a new context each time: in Chromium on the 2-core machine the star came some
    0.4-0.6 s after the verdict's metric with WebGL and 0.1-0.2 s after it in SVG
    (bench/draw_speed.py). A few thousand markers are well within what SVG draws quickly."""
    return {**fig, "data": [{**t, "type": "scatter"} if t.get("type") == "scattergl" else t
                            for t in fig["data"]]}


# Room round the plot for the tick labels and axis names (Streamlit's theme: 12 px ticks,
# 14 px names set 20-24 px off), the title above it.
FIXED_MARGIN = dict(l=76, r=10, t=40, b=58)


def with_fixed_margins(fig: dict) -> dict:
    """A frozen figure whose margins are set here rather than grown by plotly to fit the axes'
    labels (automargin, which Streamlit's theme turns on): growing them draws the whole plot a
    second time. For the Draw page's map and histogram, drawn afresh after every stroke, that
    second draw was half the browser's time: a 1,000-point map took 100 ms in Chromium on the
    2-core machine, 45 ms with fixed margins."""
    axes = {name: {**fig["layout"].get(name, {}), "automargin": False}
            for name in ("xaxis", "yaxis")}
    return {**fig, "layout": {**fig["layout"], **axes, "margin": FIXED_MARGIN}}


def kept_figures(latent, test_errors: np.ndarray,
                 class_names: Sequence[str]) -> tuple[dict, dict]:
    """The map of the test set's codes (a ``LatentMap``) and the histogram of its errors, frozen
    for ``with_stars`` and ``with_marks``: the same for every drawing."""
    axes = ("z1", "z2") if latent.method == "code" else ("PC 1", "PC 2")
    return (with_fixed_margins(drawn_in_svg(frozen(latent_scatter(
                latent.points, latent.labels, class_names, indices=latent.indices,
                title="Test digits' codes, and yours", axis_names=axes)))),
            with_fixed_margins(frozen(error_histogram(
                test_errors, names=("test digits",), title="Your error among the test digits'"))))


def with_stars(base: dict, marked: dict[str, np.ndarray]) -> go.Figure:
    """A frozen ``latent_scatter`` (aedemo.viz.style.frozen) with named stars on top: the same
    figure as ``latent_scatter(..., marked=marked)``, for a map drawn again on every stroke."""
    return thawed([*base["data"], *(star(n, xy).to_plotly_json() for n, xy in marked.items())],
                  base["layout"])


def with_marks(base: dict, marks: dict[str, float]) -> go.Figure:
    """A frozen ``error_histogram`` (aedemo.viz.style.frozen) with named lines added, the axis
    widened to show a line beyond it: for a histogram marked again on every stroke."""
    lines = [mark_line(name, value) for name, value in marks.items()]
    xaxis = dict(base["layout"].get("xaxis", {}))
    low, high = xaxis.get("range", (0.0, 0.0))
    xaxis["range"] = [low, max([high, *(v * 1.08 for v in marks.values())])]
    return thawed(base["data"], {**base["layout"], "xaxis": xaxis,
                                 "shapes": [*base["layout"].get("shapes", ()),
                                            *(shape for shape, _ in lines)],
                                 "annotations": [*base["layout"].get("annotations", ()),
                                                 *(note for _, note in lines)]})


def test_set_figures(_model, data, views) -> tuple[dict, dict]:
    """kept_figures of a model's views of the test set (lessons.draw.model_views), for
    Service.derived: kept per model, the same for every drawing."""
    return kept_figures(views.latent, views.test_errors, data.classes)
