"""The decoder under the pointer, for a model with a 2D code (issue 21): the code plane with the
test digits' codes on it, and beside it the digit the decoder draws for whatever point the
mouse, a finger or the arrow keys are on, computed in the browser by the model's exported
decoder (aedemo/assets/latent_hover.js over interpreter.js), with no round trip to the server.

Our own canvas rather than a hook into the plotly map beside it: plotly's pixel-to-data
conversion is internal to its chart, which Streamlit may redraw at any rerun; a canvas of our
own takes the keyboard's focus and arrows, and its coordinates are ours to state and test.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import streamlit as st

from aedemo import export
from aedemo.store import StoredModel
from aedemo.ui.browser_models import ASSETS, component_loader
from aedemo.ui.session import projector
from aedemo.ui.widgets import PROJECTOR_CHART_PX
from aedemo.viz.latent_space import extent
from aedemo.viz.style import DIGIT_COLOURS

FONT_PX = 12      # the plane's ticks and axis names; PROJECTOR_CHART_PX in projector mode
DECIMALS = 4      # a dot's place on the screen needs no more: a tenth of a pixel at any size

# Registered once per process, as Streamlit asks.
_latent_hover = st.components.v2.component(
    "aedemo.latent_hover", html='<div class="lh-mount"></div>',
    js=component_loader("latent_hover.js"), css=(ASSETS / "latent_hover.css").read_text())


def latent_hover(stored: StoredModel, points: np.ndarray, labels: np.ndarray,
                 class_names: Sequence[str], *, key: str, axis_names: tuple[str, str],
                 half_width: float | None = None) -> bool:
    """The hover view of ``stored`` (k = 2) with the test codes ``points`` (N, 2) of classes
    ``labels`` (N,) on a square view centred on the origin (``half_width``, by default one that
    holds every point and the prior's 2 sigma circle). False, with a caption that says so, when
    the model does not run in the browser (export.net_url is None)."""
    url = export.net_url(stored)
    if url is None:
        st.caption("This model's decoder does not run in the browser, so the view that decodes "
                   "the point under the mouse is not shown for it.")
        return False
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    half = float(half_width if half_width is not None else extent(points))
    half = round(half, DECIMALS)
    start = np.clip(points.mean(axis=0) if len(points) else np.zeros(2), -half, half)
    _latent_hover(data={
        "url": url,
        # a new model or a new view mounts afresh; a rerun with the same keeps the point
        "key": f"{url} {half}",
        "label": (f"Code plane of the {stored.spec.describe()}, from {-half:g} to {half:g} on "
                  f"both axes, with {len(points):,} test digits' codes"),
        "range": [-half, half, -half, half],
        "font": PROJECTOR_CHART_PX if projector() else FONT_PX,
        "axes": list(axis_names),
        "start": [round(float(v), DECIMALS) for v in start],
        "classes": [str(c) for c in class_names],
        "colours": list(DIGIT_COLOURS),
        "points": {"xs": np.round(points[:, 0], DECIMALS).tolist(),
                   "ys": np.round(points[:, 1], DECIMALS).tolist(),
                   "labels": np.asarray(labels, dtype=int).tolist()},
    }, key=key, width="stretch", height="content")
    return True
