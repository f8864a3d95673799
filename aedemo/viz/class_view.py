"""The Class page's figure: the lesson model's map of the test digits (the Latent space page's
``latent_scatter``, faded), with every shared drawing on top in one of two traces, the usual
and the unusual, told apart by colour, shape and legend name (colour is never the only cue).
A drawing's hover label holds the drawing and its reconstruction side by side as text
pictures (plotly cannot put images in a hover), its error and, for the teacher, whose it is."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from aedemo.class_board import SharedDrawing
from aedemo.lessons.class_view import ClassPoint
from aedemo.lessons.latent_space import LatentMap
from aedemo.viz.draw import drawn_in_svg
from aedemo.viz.latent_space import latent_scatter, text_thumbnail
from aedemo.viz.style import PALETTE, frozen, thawed

USUAL = "shared: like the training digits"
UNUSUAL = "shared: unusual to the model"
# name: (colour, marker shape)
LOOKS = {USUAL: (PALETTE[0], "circle"), UNUSUAL: (PALETTE[1], "diamond")}
TEST_OPACITY = 0.3        # the test digits stay as the background they are
GAP = "  "                # between the drawing's text picture and its reconstruction's


def side_by_side(left: np.ndarray, right: np.ndarray) -> str:
    """Two 28 x 28 pictures as one text picture for a hover label, line by line."""
    return "<br>".join(a + GAP + b for a, b in zip(text_thumbnail(left).split("<br>"),
                                                   text_thumbnail(right).split("<br>")))


def whose(drawing: SharedDrawing, show_owner: bool) -> str:
    """Whose a drawing is, as this viewer may know it: "student 3" for the teacher, "yours" for
    its sharer, nothing for anyone else."""
    if show_owner:
        return drawing.owner_words
    return "your drawing" if drawing.mine else ""


def hover_text(drawing: SharedDrawing, point: ClassPoint, show_owner: bool) -> str:
    owner = whose(drawing, show_owner)
    return (f"drawing{' ' * 20}reconstruction<br>"
            f"{side_by_side(drawing.pixels, point.reconstruction)}<br>"
            f"MSE {point.error:.4f}, above {point.percentile:.0f}% of the test digits'"
            + (f"<br>{owner}" if owner else ""))


def class_map_figure(latent: LatentMap, class_names: Sequence[str],
                     drawings: Sequence[SharedDrawing], points: Mapping[str, ClassPoint], *,
                     title: str, axis_names: tuple[str, str], show_owner: bool) -> go.Figure:
    """The test digits' map with each drawing in ``drawings`` that has a point in ``points``
    on top; ``customdata`` holds each drawing's id, which a click hands back to the page.
    Drawn in SVG (drawn_in_svg): the page redraws it every few seconds while it is shown."""
    base = frozen(latent_scatter(latent.points, latent.labels, class_names,
                                 indices=latent.indices, title=title, axis_names=axis_names))
    background = [{**t, "marker": {**t["marker"], "opacity": TEST_OPACITY, "size": 5}}
                  for t in base["data"]]
    shown = [(d, points[d.id]) for d in drawings if d.id in points]
    traces = []
    for name, unusual in ((USUAL, False), (UNUSUAL, True)):
        these = [(d, p) for d, p in shown if p.unusual is unusual]
        colour, symbol = LOOKS[name]
        xy = np.array([p.point for _, p in these], float).reshape(-1, 2)
        traces.append(go.Scatter(
            x=xy[:, 0], y=xy[:, 1], mode="markers", name=f"{name} ({len(these)})",
            marker=dict(size=15, color=colour, symbol=symbol, line=dict(color="white", width=1.5)),
            customdata=[d.id for d, _ in these],
            text=[hover_text(d, p, show_owner) for d, p in these],
            hovertemplate="%{text}<extra></extra>").to_plotly_json())
    layout = {**base["layout"], "dragmode": "zoom", "clickmode": "event+select"}
    return thawed([*drawn_in_svg({"data": background})["data"], *traces], layout)
