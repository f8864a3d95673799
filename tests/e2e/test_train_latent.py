"""The latent map as a model trains, in Chromium on the README's server (the digits, the zoo off):
the Train page's live map gets new frames while the job trains, read from plotly's own data in
the page at two moments, and after the job the done panel replays them with its slider.

With AEDEMO_SCREENSHOTS=1 the live map and the replay are also saved in artifacts/issue21/."""

from __future__ import annotations

import os
import re

from e2e_support import ARTIFACTS, no_exception, open_page, start_training, wait_idle

SHOTS = ARTIFACTS.parent / "issue21"
TRAIN_TIMEOUT_MS = 300_000
# one chart, the contract: the live map while the job trains, its replay once done
LIVE = REPLAY = ".st-key-train-latent .js-plotly-plot"

# What plotly drew: the title (which says after how many epochs) and every trace's points,
# read from the chart element itself (plotly keeps its figure on it: .layout, and the traces
# with their arrays decoded in ._fullData; .data holds them as the server's base64). The
# element is in the page a moment before plotly has drawn into it, and it is replaced when the
# panel redraws: read it only once plotly has put its figure on it, else wait.
READ = """selector => { const el = document.querySelector(selector);
                        if (!el || !el.layout || !el.layout.title || !el._fullData) return null;
                        return JSON.stringify({
                            title: el.layout.title.text,
                            points: el._fullData.map(t => [Array.from(t.x), Array.from(t.y)])});
                      }"""


def shoot(tab, name: str) -> None:
    if os.environ.get("AEDEMO_SCREENSHOTS"):
        SHOTS.mkdir(parents=True, exist_ok=True)
        tab.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def epochs_in(title: str) -> float:
    return float(re.search(r"after ([\d.]+) epochs", title).group(1))


def read(tab, selector: str) -> dict:
    import json

    return json.loads(tab.wait_for_function(READ, arg=selector, timeout=30_000).json_value())


def wait_for_another_frame(tab, title: str, *, timeout: float) -> None:
    """Until the map's title (which says after how many epochs) says other words than
    ``title``: its markup aside, since the same frame redrawn came back once as
    "<b><b>... after 35 epochs</b></b>" (a CI run of 2026-12-05)."""
    tab.wait_for_function(
        f"""() => {{ const el = document.querySelector('{LIVE}');
                    const words = t => t.replace(/<[^>]*>/g, '');
                    return el && el.layout && el.layout.title
                           && words(el.layout.title.text) !== words({json_str(title)}); }}""",
        timeout=timeout)


def test_the_live_map_moves_while_it_trains_and_replays_after(server, page):
    open_page(page, server, "train")
    start_training(page, "dense")            # the most epochs: it trains while the test looks on
    page.locator(LIVE).first.wait_for(timeout=TRAIN_TIMEOUT_MS)
    first = read(page, LIVE)
    # the panel redraws every PROGRESS_EVERY_S, the worker takes a frame a second: wait for
    # a later one rather than for a fixed time on a busy machine
    wait_for_another_frame(page, first["title"], timeout=60_000)
    second = read(page, LIVE)
    shoot(page, "train-latent-live")
    assert epochs_in(second["title"]) > epochs_in(first["title"])
    assert second["points"] != first["points"]              # the codes moved, not only the title
    assert sum(len(x) for x, _ in second["points"]) > 100   # the fixed sample, every class

    page.get_by_text("Done: stored as model").wait_for(timeout=TRAIN_TIMEOUT_MS)
    wait_idle(page)
    page.get_by_text("How its latent map formed while it trained").wait_for()
    last = read(page, REPLAY)
    slider = page.locator(".st-key-train-latent-at").get_by_role("slider")
    slider.focus()
    slider.press("Home")                     # back to the first frame
    wait_idle(page)
    wait_for_another_frame(page, last["title"], timeout=30_000)
    start = read(page, REPLAY)
    shoot(page, "train-latent-replay")
    assert epochs_in(start["title"]) < epochs_in(second["title"]) < epochs_in(last["title"])
    assert start["points"] != last["points"]
    no_exception(page)


def json_str(text: str) -> str:
    import json

    return json.dumps(text)
