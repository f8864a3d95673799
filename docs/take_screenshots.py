"""Retakes the README's screenshots from a real server and a real Chromium.

    AEDEMO_HOME=/tmp/aedemo-shots .venv/bin/python -m aedemo pretrain
    AEDEMO_HOME=/tmp/aedemo-shots .venv/bin/python docs/take_screenshots.py
"""

from __future__ import annotations

import os
import random
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "tests"), str(REPO / "tests" / "e2e"), str(REPO / "bench")]

from e2e_support import (  # noqa: E402
    CHROMIUM_FLAGS,
    PAD,
    Server,
    draw_seven,
    find_chromium,
    open_page,
    wait_idle,
)

OUT = REPO / "docs" / "screenshots"
# The sections a page's first screen does not reach: (page path, its heading, file name).
SECTIONS = (("reconstructions", "Why a bottleneck", "why_a_bottleneck"),
            ("reconstructions", "Too few digits: memorising", "memorising"),
            ("latent_space", "A plain autoencoder's map beside a VAE's, k = 2", "two_maps"),
            ("generate", "Why the prior matters, and what it does not do", "fair_prior"),
            ("generate", "The loss: reconstruction + KL = −ELBO", "neg_elbo"),
            ("generate", "Latent traversals", "traversals"),
            ("generate", "β: rate against distortion", "beta"),
            ("insights", "Sparse codes", "sparse_control"),
            ("anomaly", "Anomaly detection done right", "anomaly_done_right"),
            ("anomaly", "Per class, beside ink alone", "anomaly_per_class"),
            ("sequences", "What normal means here", "sequences_normal"))


def shoot_section(page, server, path: str, heading: str, name: str) -> None:
    """The part of a page that starts at ``heading``, scrolled to the top of the window."""
    open_page(page, server, path)
    found = page.get_by_role("heading", name=heading).first
    found.wait_for(timeout=60_000)
    found.evaluate("h => h.scrollIntoView({block: 'start'})")
    page.wait_for_timeout(1500)
    page.screenshot(path=str(OUT / f"{name}.png"))


def draw_and_shoot(page, server, name: str) -> None:
    """The Draw page with a 7 on the pad and every reconstruction beside it."""
    open_page(page, server, "draw")
    page.locator(PAD).scroll_into_view_if_needed()
    draw_seven(page)
    page.get_by_text("dense k=16 · MSE").first.wait_for(timeout=60_000)
    wait_idle(page)
    page.wait_for_timeout(1500)
    page.screenshot(path=str(OUT / f"{name}.png"))


def draw_live_and_shoot(page, server, name: str) -> None:
    """The Draw page mid-stroke, the button still down: the copies the browser computes."""
    open_page(page, server, "draw")
    pad = page.locator(PAD)
    pad.scroll_into_view_if_needed()
    page.locator("canvas.live-recon").first.wait_for(timeout=60_000)
    page.wait_for_timeout(1500)             # the nets arrive
    box = pad.bounding_box()
    x, y, w, h = box["x"], box["y"], box["width"], box["height"]
    page.mouse.move(x + 0.3 * w, y + 0.25 * h)
    page.mouse.down()
    page.mouse.move(x + 0.7 * w, y + 0.25 * h, steps=8)
    page.mouse.move(x + 0.5 * w, y + 0.6 * h, steps=8)
    page.wait_for_timeout(300)
    page.screenshot(path=str(OUT / f"{name}.png"))
    page.mouse.up()
    wait_idle(page)


def hover_and_shoot(page, server, name: str) -> None:
    """Latent space: the decoder's digit under the pointer on the VAE's k = 2 map."""
    open_page(page, server, "latent_space")
    plane = page.locator("canvas.lh-map").first
    plane.wait_for(timeout=60_000)
    plane.evaluate("c => c.scrollIntoView({block: 'center'})")
    page.wait_for_timeout(1500)
    box = plane.bounding_box()
    page.mouse.move(box["x"] + 0.62 * box["width"], box["y"] + 0.4 * box["height"])
    page.wait_for_timeout(500)
    page.screenshot(path=str(OUT / f"{name}.png"))


def replay_and_shoot(page, server, name: str) -> None:
    """Latent space: how the map formed while the model trained, its slider where the page opens
    it (the end of training)."""
    open_page(page, server, "latent_space")
    heading = page.get_by_role("heading", name="How this map formed while it trained")
    heading.wait_for(timeout=60_000)
    heading.evaluate("h => h.scrollIntoView({block: 'start'})")
    page.wait_for_timeout(1500)
    page.screenshot(path=str(OUT / f"{name}.png"))


def share_and_shoot(browser, server, name: str) -> None:
    """The Class page projected after a dozen students shared from the Draw page, as the
    README's lesson plan goes: ten 3s, then two drawings that are no digit."""
    from classroom import digit_strokes
    from draw_speed import draw

    rng = random.Random(22)
    scribbles = ([[70, 60, 210, 60, 70, 140, 210, 140, 70, 220, 210, 220]],       # a zigzag
                 [[60, 240, 140, 40, 220, 240], [95, 160, 185, 160]])               # an A
    for strokes in [digit_strokes(rng, 3) for _ in range(10)] + list(scribbles):
        student = browser.new_context(viewport={"width": 1300, "height": 1000})
        tab = student.new_page()
        open_page(tab, server, "draw")
        pad = tab.locator(PAD)
        pad.wait_for(timeout=60_000)
        for _ in draw(tab, pad.bounding_box(), [list(map(float, s)) for s in strokes]):
            wait_idle(tab)
        tab.get_by_role("button", name="Share with the class").click()
        tab.get_by_text("Shared").first.wait_for(timeout=60_000)
        student.close()
    teacher = browser.new_page(viewport={"width": 1400, "height": 1000})
    open_page(teacher, server, "class")
    teacher.locator(".st-key-class-map-chart .js-plotly-plot").wait_for(timeout=60_000)
    wait_idle(teacher)
    teacher.wait_for_timeout(2000)
    teacher.get_by_role("heading", name="Class").first.evaluate(
        "h => h.scrollIntoView({block: 'start'})")
    teacher.screenshot(path=str(OUT / f"{name}.png"))
    teacher.get_by_role("heading", name="The shared drawings (only you see whose)").evaluate(
        "h => h.scrollIntoView({block: 'start'})")
    teacher.wait_for_timeout(1000)
    teacher.screenshot(path=str(OUT / f"{name}_teacher.png"))
    teacher.close()


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    server = Server(Path(os.environ["AEDEMO_HOME"]))
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=find_chromium(), args=CHROMIUM_FLAGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            for path, name in (("", "home"), ("reconstructions", "reconstructions"),
                               ("latent_space", "latent_space"), ("generate", "generate"),
                               ("denoising", "denoising"), ("insights", "insights"),
                               ("anomaly", "anomaly")):
                open_page(page, server, path)
                page.wait_for_timeout(1500)
                page.screenshot(path=str(OUT / f"{name}.png"))
            for path, heading, name in SECTIONS:
                shoot_section(page, server, path, heading, name)
            draw_and_shoot(page, server, "draw")
            draw_live_and_shoot(page, server, "draw_live")
            hover_and_shoot(page, server, "latent_hover")
            replay_and_shoot(page, server, "latent_replay")
            # the projector mode, set once in the sidebar (kept for this browser)
            open_page(page, server, "reconstructions")
            page.get_by_text("Projector mode").click()
            wait_idle(page)
            page.wait_for_timeout(1500)
            page.screenshot(path=str(OUT / "projector.png"))
            page.get_by_text("Projector mode").click()
            wait_idle(page)
            open_page(page, server, "train")
            page.get_by_role("button", name="Start training").click()
            page.wait_for_function("() => document.querySelector('.js-plotly-plot')",
                                   timeout=120_000)
            page.wait_for_timeout(4000)
            page.screenshot(path=str(OUT / "train.png"))
            # its latent map while it trains (the chart keyed train-latent)
            live = page.locator(".st-key-train-latent .js-plotly-plot").first
            live.wait_for(timeout=120_000)
            live.evaluate("c => c.scrollIntoView({block: 'center'})")
            page.wait_for_timeout(3000)
            page.screenshot(path=str(OUT / "train_latent.png"))
            share_and_shoot(browser, server, "class")
            phone = browser.new_page(viewport={"width": 390, "height": 844},
                                     device_scale_factor=2)
            draw_and_shoot(phone, server, "draw_phone")
            browser.close()
    finally:
        server.stop()


if __name__ == "__main__":
    main()
