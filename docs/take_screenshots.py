"""Retakes the README's screenshots from a real server and a real Chromium.

    AEDEMO_HOME=/tmp/aedemo-shots .venv/bin/python -m aedemo pretrain
    AEDEMO_HOME=/tmp/aedemo-shots .venv/bin/python docs/take_screenshots.py
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "tests"), str(REPO / "tests" / "e2e")]

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


def draw_and_shoot(page, server, name: str) -> None:
    """The Draw page with a 7 on the pad and every reconstruction beside it."""
    open_page(page, server, "draw")
    page.locator(PAD).scroll_into_view_if_needed()
    draw_seven(page)
    page.get_by_text("dense k=16 · MSE").first.wait_for(timeout=60_000)
    wait_idle(page)
    page.wait_for_timeout(1500)
    page.screenshot(path=str(OUT / f"{name}.png"))


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
            draw_and_shoot(page, server, "draw")
            open_page(page, server, "train")
            page.get_by_role("button", name="Start training").click()
            page.wait_for_function("() => document.querySelector('.js-plotly-plot')",
                                   timeout=120_000)
            page.wait_for_timeout(4000)
            page.screenshot(path=str(OUT / "train.png"))
            phone = browser.new_page(viewport={"width": 390, "height": 844},
                                     device_scale_factor=2)
            draw_and_shoot(phone, server, "draw_phone")
            browser.close()
    finally:
        server.stop()


if __name__ == "__main__":
    main()
