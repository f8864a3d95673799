"""Widgets several pages use: a settings widget from a config field's declared range, the
drawing pad, rows of digits, pictures and charts with their text for screen readers, and the
styles of the app and of projector mode."""

from __future__ import annotations

import base64
import copy
import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go
import streamlit as st
import torch

from aedemo.data import DataError
from aedemo.links import field_param
from aedemo.models.base import log_options
from aedemo.preprocess import PAD_MAX_POINTS, PAD_PEN, PAD_SIZE, PAD_UNREADABLE
from aedemo.ui.browser_models import component_loader
from aedemo.ui.links import LinkedSettings
from aedemo.ui.session import projector
from aedemo.viz.images import to_pixels

ASSETS = Path(__file__).parent.parent / "assets"     # aedemo/assets
PROJECTOR_TEXT_PX = 24     # the root font size: body 24 px, captions and labels 21 px
PROJECTOR_CHART_PX = 22    # every text in a chart: ticks, axis titles, legend, notes
PROJECTOR_ROW = 5          # digits in a row of show_images: twice as large as a row of ROW
PROJECTOR_PICTURE = 1.5    # ui.picture's width, times this


def hparam_input(field: Any, key: str, label: str | None = None, default: Any = None,
                 link: LinkedSettings | None = None) -> Any:
    """A widget for one config field, from the range or choices it declares; with ``link``,
    in the page's address under the field's CLI name (``latent=8``, ``beta=4``)."""
    if link is not None:
        link.seed(field_param(field), key)
    meta = field.metadata
    default = field.default if default is None else default
    label = label or field.name.replace("_", " ")
    help_text = meta.get("help") or None
    if meta.get("choices"):
        options = list(meta["choices"])
        return st.selectbox(label, options, index=options.index(default), key=key,
                            help=help_text)
    low, high = meta["low"], meta["high"]
    if meta.get("log"):
        options = log_options(low, high)
        value = min(options, key=lambda v: abs(v - default))
        return st.select_slider(label, options=options, value=value, key=key, help=help_text)
    if isinstance(default, int):
        return st.slider(label, int(low), int(high), int(default), key=key, help=help_text)
    return st.slider(label, float(low), float(high), float(default), key=key, help=help_text)


# The Draw page's pad, a Components v2 component of our own (aedemo/assets/drawing_pad.*): a
# real browser canvas that scales with its column, takes a mouse, a pen or a finger, and keeps
# Clear and Undo visible and finger-sized. Beside it, the row of models' copies, drawn in the
# browser while the pen moves (the interpreter and the framing come first in its script:
# browser_models.component_js; the browser fetches that module once, each update carries only
# its loader), then replaced by the server's after the stroke. The same module draws the
# bottleneck sweep (mode "sweep"). Registered once per process, as Streamlit asks.
_drawing_pad = st.components.v2.component(
    "aedemo.drawing_pad", html='<div class="pad-root"></div>',
    js=component_loader("drawing_pad.js"), css=(ASSETS / "drawing_pad.css").read_text())


def pad_sent(key: str) -> dict | None:
    """What the drawing pad under ``key`` sent, read before the pad is drawn in this run (the
    page draws it last, with the server's copies of what it sent): None until it has sent
    something in this session, then {"png": a PNG data URL or None when blank, "strokes":
    [[x0, y0, x1, y1, ...], ...]}.

    Raises DataError, with a plain sentence, for anything the pad itself never sends
    (``draw.pad_drawing``): a browser is on the other side of the network and may send
    anything. What it sent is then dropped from the session, where Streamlit keeps a widget's
    value as it came."""
    from aedemo.lessons import draw
    from aedemo.widget_states import UNREADABLE_KEY

    state = st.session_state.get(key) or {}
    sent = state.get("drawing")
    if sent is None and not state.get(UNREADABLE_KEY):
        return None
    drawing = draw.pad_drawing(sent)
    if drawing is None:
        del st.session_state[key]
        raise DataError(PAD_UNREADABLE)
    return drawing


def drawing_pad(key: str, strokes: list | None = None, row: dict | None = None) -> None:
    """The drawing pad, with the row of copies beside it when ``row`` is given (pad_row:
    what the browser runs and the server's answers). ``strokes`` is the drawing the server
    last heard of: what a pad mounted afresh shows (the last drawing, coming back to the
    page), and what the server's copies in ``row`` are of; a pad already on the screen keeps
    its own strokes. What it sends is read with ``pad_sent``."""
    _drawing_pad(data={"strokeWidth": PAD_PEN, "size": PAD_SIZE, "maxPoints": PAD_MAX_POINTS,
                       "strokes": strokes or [], "row": row},
                 key=key, default={"drawing": None}, on_drawing_change=lambda: None,
                 width="stretch", height="content")


def grey_levels(x: torch.Tensor) -> str:
    """A 28 x 28 picture as the browser paints it: its 784 grey levels (0 to 255), row by row,
    as base64 (drawing_pad.js's ``levels`` reads them back). A canvas shows nothing finer,
    and each stroke sends every copy of the row and of the sweep: as numbers to 4 places they
    were most of a stroke's message, 4 times these bytes."""
    levels = (x.reshape(-1).clamp(0, 1) * 255).round().to(torch.uint8)
    return base64.b64encode(levels.numpy().tobytes()).decode()


def bottleneck_sweep(key: str, models: list[dict], x: torch.Tensor, k: int, label: str) -> None:
    """The bottleneck sweep, drawn and run in the browser (drawing_pad.js's mode "sweep"): a
    slider over ``models`` ({"k", "id", "url" or None, "name", "server": the server's copy},
    k ascending), starting at ``k``, and the chosen model's copy of the input: the pad's as
    the pen moves, else ``x``. Moving the slider sends nothing to the server."""
    _drawing_pad(data={"mode": "sweep", "models": models, "input": grey_levels(x), "k": k,
                       "label": label},
                 key=key, width="stretch", height="content")


ROW = 10          # digits in a full row: a short row keeps the cells of a full one


def alt_texts(alt: str | Sequence[str], n: int, captions: Sequence[str] | None = None
              ) -> list[str]:
    """One alternative text per picture: ``alt`` as given when it is one per picture, else
    the group's description once, with each picture's caption (or its place) after it."""
    if not isinstance(alt, str):
        texts = list(alt)
        if len(texts) != n:
            raise ValueError(f"{len(texts)} alternative texts for {n} pictures")
        return texts
    return [f"{alt}: {captions[i]}" if captions else f"{alt}, {i + 1} of {n}"
            for i in range(n)]


def show_images(images: torch.Tensor | list[torch.Tensor], captions: list[str] | None = None, *,
                alt: str | Sequence[str], scale: int = 8, per_row: int | None = None,
                min_width: int | None = None) -> None:
    """28x28 images side by side in a grid, ``per_row`` to a row (at least ROW cells, so two
    digits are not drawn half a page wide), each with its caption under it. Each fills its
    cell, so the digits grow with the window on a projector, and the grid keeps its columns
    however narrow, so on a phone a row stays a row; with ``min_width`` (pixels) it wraps to
    fewer columns instead once its cells would be narrower. In projector mode a row holds at
    most PROJECTOR_ROW digits, each twice as large as in a row of ROW. ``alt`` says what the
    pictures are to a student who cannot see them: one text per picture ("test digit 7,
    reconstruction by dense k = 16, MSE 0.012"), or one for the whole row, which each
    picture's caption completes."""
    pictures = to_pixels(images, scale)
    texts = alt_texts(alt, len(pictures), captions)
    columns = per_row or max(len(pictures), ROW)
    if projector():
        columns = min(columns, PROJECTOR_ROW)
    if min_width:
        grid = st.grid(columns, wrap=True, min_column_width=min_width, gap="xsmall")
    else:
        grid = st.grid(columns, wrap=False, min_column_width=28, gap="xsmall")
    for i, pixels in enumerate(pictures):
        with grid.cell():
            # PNG: Streamlit's default JPEG blurs the edges of a 28x28 digit
            st.image(pixels, width="stretch", output_format="PNG", alt=texts[i])
            if captions:
                st.caption(captions[i])


def picture(pixels: np.ndarray, *, alt: str, caption: str | None = None,
            width: int | str = "content") -> None:
    """One picture (a digit, or a mosaic of them from viz.images) with its alternative text:
    a mosaic describes itself once ("48 digits decoded from random codes"). In projector mode
    a picture of a given size ("content": its own pixels, or a width in pixels) is drawn
    PROJECTOR_PICTURE times as wide, as far as its column allows."""
    if projector() and width != "stretch":
        own = pixels.shape[1] if width == "content" else int(width)
        width = round(own * PROJECTOR_PICTURE)
    st.image(pixels, caption=caption, width=width, output_format="PNG", alt=alt)


def chart(figure, *, key: str, summary: str, shown: str | None = None, **options: Any):
    """A plotly chart with what it shows in words, for a student who cannot see it: the
    summary is read by screen readers and hidden from the screen (the chart's title says the
    same to those who see it). With ``shown``, the summary is instead a caption everyone
    sees, with ``shown`` after it (a hidden copy as well was read twice by a screen reader). In
    projector mode every text in the chart is drawn at PROJECTOR_CHART_PX or more. Returns what
    st.plotly_chart returns (a selection event when ``on_select`` is given)."""
    if projector():
        figure = projected(figure)
    event = st.plotly_chart(figure, key=key, **options)
    if shown is None:
        st.markdown(f'<p class="aedemo-sr-only">{html.escape(summary)}</p>',
                    unsafe_allow_html=True)
    else:
        st.caption(f"{summary} {shown}")
    return event


def projected(figure: go.Figure | dict, px: int = PROJECTOR_CHART_PX) -> go.Figure:
    """A copy of ``figure`` with every text at ``px`` or more (the title larger still), the
    margins grown to hold it: what the back of a room can read. The figure itself is left as
    it is (it may be kept and shared by every session)."""
    fig = figure.to_dict() if isinstance(figure, go.Figure) else copy.deepcopy(figure)
    lay = fig.setdefault("layout", {})

    def at_least(holder: dict, name: str, size: int = px) -> None:
        font = holder.setdefault(name, {})
        font["size"] = max(font.get("size") or 0, size)

    at_least(lay, "font")
    title = lay.setdefault("title", {})
    if isinstance(title, str):
        title = lay["title"] = {"text": title}
    at_least(title, "font", round(px * 1.2))
    for name in [k for k in lay if k.startswith(("xaxis", "yaxis"))] or ["xaxis", "yaxis"]:
        axis = lay.setdefault(name, {})
        at_least(axis, "tickfont")
        axis_title = axis.setdefault("title", {})
        if isinstance(axis_title, str):
            axis_title = axis["title"] = {"text": axis_title}
        at_least(axis_title, "font")
        axis["automargin"] = True
    at_least(lay.setdefault("legend", {}), "font")
    at_least(lay.setdefault("hoverlabel", {}), "font")
    for note in lay.get("annotations", ()):
        at_least(note, "font")
    for trace in fig.get("data", ()):
        for holder in (trace, trace.get("marker") or {}):
            if "colorbar" in holder:
                at_least(holder["colorbar"], "tickfont")
    margin = lay.setdefault("margin", {})
    margin["t"] = max(margin.get("t") or 0, round(px * 3.5))      # the title's two lines
    if lay.get("height"):
        lay["height"] = round(lay["height"] * 1.25)                # room for the larger text
    return go.Figure(fig, _validate=False)


# Text for screen readers only: the usual visually hidden pattern, kept off the screen and out
# of the layout without display:none, which would hide it from screen readers too. And the
# charts' axis labels and titles in black: Streamlit's plotly theme draws them #808495, 3.8:1
# on white, under WCAG AA's 4.5:1 for text (a style on the page, not on each figure: the pages'
# figures are kept and shared, and some are marked again on every stroke).
PAGE_STYLE = """<style>
.aedemo-sr-only {position: absolute; width: 1px; height: 1px; padding: 0; margin: -1px;
  overflow: hidden; clip: rect(0, 0, 0, 0); white-space: nowrap; border: 0;}
.js-plotly-plot .xaxislayer-above text, .js-plotly-plot .yaxislayer-above text,
.js-plotly-plot [class*="title"] text, .js-plotly-plot .colorbar text,
.js-plotly-plot .legendtext {fill: #000 !important;}
</style>"""

# Projector mode, for the back of a room: Streamlit sizes its text in rem, so a larger root
# font makes every text larger at once (body 24 px, captions and labels 21 px); captions, drawn
# at 60% opacity, and the sidebar's grey become black on white; the sidebar widens for its
# larger words; digits scaled up by the browser keep their square pixels.
PROJECTOR_STYLE = f"""<style>
html {{font-size: {PROJECTOR_TEXT_PX}px !important;}}
.stApp, .stApp p, .stApp li, .stApp label {{color: #000;}}
.stApp [data-testid="stCaptionContainer"] {{color: #000; opacity: 1; font-size: max(1rem, 20px);}}
.stApp [data-testid="stSidebar"] {{background: #fff; border-right: 2px solid #000;
  width: 420px !important; min-width: 420px !important;}}
.stApp [data-testid="stImage"] img {{image-rendering: pixelated;}}
</style>"""


@st.cache_data(show_spinner=False)
def _asset_text(name: str) -> str:
    return (ASSETS / name).read_text()


def stylesheet(name: str) -> None:
    """A page's own styles, from aedemo/assets/``name`` (its layout on a phone, say)."""
    st.html(f"<style>{_asset_text(name)}</style>")


def page_style() -> None:
    """The app's own styles, once per run of every page (and the projector's where it is on)."""
    st.html(PAGE_STYLE + (PROJECTOR_STYLE if projector() else ""))


def false_alarm_threshold(reference: Any, *, key: str, what: str = "images",
                          one: str = "image", note: str = "") -> tuple[float, float]:
    """The Anomaly and Sequences pages' threshold chosen without labels: a slider for the
    false-alarm rate the student accepts on the normal reference (``what``: the items, ``one``:
    one of them), the threshold it sets (anomaly.false_alarm_threshold) and where it comes
    from in words, with the page's ``note`` after them; a reference the model trained on (no
    held-out items) is a warning. Returns (rate, threshold)."""
    from aedemo.lessons import anomaly

    normal = f"held-out normal {what}" if reference.held_out else f"normal training {what}"
    rate = st.slider(
        f"Target false-alarm rate on the {normal} (%)", 1, 50,
        round(100 * anomaly.FALSE_ALARM_RATE), key=key,
        help=f"The threshold is the error that this share of the {normal} reach. Raise it to "
             f"catch more anomalies at the cost of more false alarms. No test {one} and no "
             f"label is used.") / 100
    threshold = anomaly.false_alarm_threshold(reference.errors, rate)
    said = anomaly.threshold_sentence(threshold, rate, reference, what=what, one=one) + note
    if reference.held_out:
        st.markdown(said)
    else:
        st.warning(said, icon=":material/warning:")
    return rate, threshold
