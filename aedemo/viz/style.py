"""Shared plotly styling: the line palette, the digit classes' colours and symbols, the layout."""

from __future__ import annotations

import plotly.graph_objects as go

# The line colours every chart draws with, indexed by position across the viz modules, so the
# order and the hue at each place stay: 0 blue, 1 red, 2 green, 3 purple, 4 orange, 5 brown,
# 6 pink, 7 grey, 8 olive, 9 cyan. Each has at least 3:1 contrast against the white page
# (WCAG 2.1's 1.4.11 for graphics), which matplotlib's tab10 orange, pink, olive and cyan lack.
# The pairs that the pages draw against each other stay apart for the colour-blind too: blue
# and orange (train and test curves), red and green (anomalous and normal) is Paul Tol's
# vibrant red against Okabe & Ito's bluish green, which a red-green deficiency still tells
# apart by lightness (tests/test_viz_style.py measures both).
PALETTE = ("#0077BB", "#CC3311", "#009E73", "#7B3294", "#CC6600", "#8C564B", "#AA3377",
           "#7F7F7F", "#6B6B00", "#0E8A99")

# The ten digit classes on a latent map: Paul Tol's "muted" scheme, his nine colours for
# qualitative data that colour-blind readers can tell apart, and its pale grey as the tenth
# (https://personal.sron.nl/~pault/, "Colour schemes and templates"). Simulated for
# protanopia, deuteranopia and tritanopia, every pair keeps a CIEDE2000 difference of 11 or
# more (tests/test_viz_style.py); matplotlib's tab10 falls to about 1 under protanopia. Its
# light colours (the sand and the grey) get a dark outline on the map, so no marker fades into
# the white page.
DIGIT_COLOURS = ("#CC6677", "#332288", "#DDCC77", "#117733", "#88CCEE", "#882255", "#44AA99",
                 "#999933", "#AA4499", "#DDDDDD")
# A shape per class as well, so colour is never the only cue (WCAG 1.4.1): ten filled plotly
# symbols that Scattergl draws and that read apart at a map's marker size. The five-pointed
# star is left for the marks drawn on top (a student's drawing on the Draw page).
DIGIT_SYMBOLS = ("circle", "square", "diamond", "cross", "x", "triangle-up", "triangle-down",
                 "triangle-left", "triangle-right", "hexagram")
MARKER_OUTLINE = "#333333"     # around every class marker: the light colours keep an edge


def layout(fig: go.Figure, title: str, x: str, y: str, height: int = 340) -> go.Figure:
    """Title, axis names, compact margins and the legend under the plot."""
    fig.update_layout(title=title, xaxis_title=x, yaxis_title=y, height=height,
                      margin=dict(l=10, r=10, t=40, b=10), legend=dict(orientation="h", y=-0.25))
    return fig


def frozen(fig: go.Figure) -> dict:
    """A figure as plain data, to keep and draw marks on many times. Building a plotly figure
    validates every property and is the slow part of a page's rerun (a 2,000-point map takes
    about 13 ms); a kept one plus ``thawed`` takes under 1 ms."""
    return fig.to_dict()


def thawed(data: list[dict], layout: dict) -> go.Figure:
    """A figure from plain data already validated once (by ``frozen``), without validating it
    again."""
    return go.Figure({"data": data, "layout": layout}, _validate=False)


def vline(x: float, text: str, color: str, width: int = 3, dash: str = "solid",
          position: str = "left") -> tuple[dict, dict]:
    """A labelled vertical line, as a layout shape and an annotation (what ``add_vline`` makes,
    as plain data so it can be added to a frozen figure)."""
    shape = {"type": "line", "x0": x, "x1": x, "xref": "x", "y0": 0, "y1": 1,
             "yref": "y domain", "line": {"color": color, "width": width, "dash": dash}}
    note = {"x": x, "xref": "x", "y": 1, "yref": "y domain", "text": text,
            "showarrow": False, "yanchor": "top", "font": {"color": color},
            "xanchor": "right" if position == "left" else "left"}
    return shape, note
