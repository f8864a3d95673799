"""The app in a real Chromium against a real server, as a class meets it once the lesson's models
are in: every page, drawing, sliders, training and cancelling. (A fresh server's first start,
its zoo training, is test_server's.)"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from aedemo import menu
from aedemo.models import variant_names
from e2e_support import (
    PAD,
    draw_seven,
    no_exception,
    open_page,
    start_training,
    wait_idle,
)

PAGE_PATHS = ["" if i == 0 else p.url_name for i, p in enumerate(menu.PAGES)]


# Points in the first trace of the first plotly chart, 0 while the chart is being redrawn (a
# fragment rerun briefly removes it from the page).
FIRST_CHART_POINTS = """() => { const p = document.querySelector('.js-plotly-plot');
    return p && p._fullData && p._fullData.length ? p._fullData[0].x.length : 0 }"""
FIRST_CHART_NAME = """() => document.querySelector('.js-plotly-plot')._fullData[0].name"""


@pytest.mark.parametrize("path", PAGE_PATHS)
def test_every_page_loads_without_an_exception(page, server, path):
    open_page(page, server, path)
    no_exception(page)
    expect(page.locator("h1").first).to_be_visible()      # a rerun may redraw it a moment


def test_training_run_shows_the_loss_falling_and_cancel_stops_it(page, server):
    # the server's queue is free (no zoo): the job runs at once
    open_page(page, server, "train")
    start_training(page, "conv")        # the most epochs: it trains while the test looks on
    # the chart gains points batch by batch: within its first epoch a run already has a curve
    # (it once drew a point per epoch)
    page.wait_for_function(f"() => ({FIRST_CHART_POINTS})() >= 20", timeout=120_000)
    assert page.evaluate(FIRST_CHART_NAME) == "train, each batch"
    before = max(20, page.evaluate(FIRST_CHART_POINTS))   # 0 if caught mid-redraw
    page.wait_for_function(f"() => ({FIRST_CHART_POINTS})() > {before}", timeout=60_000)
    page.get_by_role("button", name="Cancel").click()
    page.get_by_text("Cancelled: nothing was stored.").wait_for(timeout=30_000)
    no_exception(page)


IMAGE_SOURCES = """() => Array.from(document.querySelectorAll('[data-testid="stImage"] img'))
                        .map(i => i.src).join('|')"""


# The server's copy of a drawing, in the row beside the pad (drawing_pad.js's figcaptions);
# before the server has answered, the row's copies are the browser's and say so.
ANSWERED = re.compile(r"^dense k=\d+ · MSE")


def test_drawing_a_digit_shows_every_models_reconstruction(page, server):
    open_page(page, server, "draw")
    page.locator(PAD).wait_for()
    draw_seven(page)
    page.get_by_text(ANSWERED).first.wait_for(timeout=60_000)
    wait_idle(page)
    # one copy per image variant in the store, each captioned with its variant, k and error
    for variant in variant_names("image"):
        page.get_by_text(re.compile(rf"^{variant} k=\d+ · MSE")).first.wait_for()
    no_exception(page)


def test_a_single_click_on_the_pad_is_called_a_dot_not_reconstructed(page, server):
    open_page(page, server, "draw")
    pad = page.locator(PAD)
    pad.wait_for()
    box = pad.bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.get_by_text("That is only a dot").wait_for(timeout=60_000)
    wait_idle(page)
    no_exception(page)
    assert page.get_by_text(ANSWERED).count() == 0
    draw_seven(page)                        # the next stroke makes it a digit after all
    page.get_by_text(ANSWERED).first.wait_for(timeout=60_000)
    # the warning goes once the rerun that drew the reconstructions has finished
    page.get_by_text("That is only a dot").wait_for(state="detached", timeout=30_000)


def test_clearing_the_canvas_keeps_the_chosen_bottleneck(page, server):
    """Clear is the pad's own button (it empties the pad in the browser, so a stroke begun
    right after it is kept); the next drawing comes back at the k the student chose. The
    sweep's slider is the browser's own (drawing_pad.js), which keeps the k on the page."""
    open_page(page, server, "draw")
    page.locator(PAD).wait_for()
    draw_seven(page)
    thumb = page.get_by_role("slider", name="Bottleneck size k of the dense autoencoder")
    thumb.wait_for(timeout=60_000)
    wait_idle(page)
    start = thumb.get_attribute("aria-valuetext")
    thumb.focus()
    thumb.press("ArrowLeft")
    chosen = thumb.get_attribute("aria-valuetext")          # "k = 4"
    assert chosen != start
    k = chosen.removeprefix("k = ")
    page.get_by_text(f"dense k={k} · MSE").first.wait_for(timeout=30_000)
    page.get_by_role("button", name="Clear").click()
    page.get_by_text(ANSWERED).first.wait_for(state="detached", timeout=30_000)
    wait_idle(page)
    draw_seven(page)
    page.get_by_text(f"dense k={k} · MSE").first.wait_for(timeout=30_000)
    wait_idle(page)
    assert thumb.get_attribute("aria-valuetext") == chosen
    no_exception(page)


def test_moving_the_bottleneck_slider_changes_the_images(page, server):
    open_page(page, server, "reconstructions")
    slider = page.locator('[data-testid="stSlider"]', has_text="Bottleneck size k")
    slider.wait_for(timeout=60_000)
    before = page.evaluate(IMAGE_SOURCES)
    thumb = slider.get_by_role("slider")
    thumb.focus()
    thumb.press("ArrowLeft")
    page.wait_for_function(f"(b) => ({IMAGE_SOURCES})() !== b", arg=before, timeout=30_000)
    no_exception(page)


def test_selecting_a_point_in_the_latent_scatter_shows_that_digit(page, server):
    open_page(page, server, "latent_space")
    page.locator(".js-plotly-plot").first.wait_for(timeout=60_000)
    wait_idle(page)
    # where plotly drew the first point of the first class, in page pixels
    point = page.evaluate("""() => {
        const gd = document.querySelector('.js-plotly-plot');
        const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
        const r = gd.getBoundingClientRect();
        return {x: r.left + xa._offset + xa.l2p(gd._fullData[0].x[0]),
                y: r.top + ya._offset + ya.l2p(gd._fullData[0].y[0]),
                index: gd._fullData[0].customdata[0]};
    }""")
    # a small lasso around it (the map's drag mode), as a student circles a point
    x, y = point["x"], point["y"]
    page.mouse.move(x - 5, y - 5)
    page.mouse.down()
    for dx, dy in ((5, -5), (5, 5), (-5, 5), (-5, -5)):
        page.mouse.move(x + dx, y + dy, steps=3)
    page.mouse.up()
    page.get_by_text("selected digit").first.wait_for(timeout=30_000)
    wait_idle(page)
    captions = page.locator('[data-testid="stCaptionContainer"]').all_inner_texts()
    assert any(c.startswith(f"#{point['index']}:") for c in captions)    # the very digit
    no_exception(page)
