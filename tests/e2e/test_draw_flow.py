"""The Draw page follows the pen, in a real Chromium on the real pad: the verdict beside the pad
is always the drawing's own (never the last stroke's, faded, while the new one is computed), and
a reload brings the drawing back with the models' answers at once.

The server is the README's command on the session's small models (scikit-learn's digits, no
zoo), so the module costs seconds, not the zoo's minutes."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from e2e_support import (
    PAD,
    draw_seven,
    no_exception,
    open_page,
    server_on_lesson_models,
    wait_idle,
)

VERDICT_MS = 60_000
COMPUTING = "Computing the verdict for this drawing"


@pytest.fixture(scope="module")
def draw_server(tmp_path_factory, lesson_store):
    srv = server_on_lesson_models(tmp_path_factory, lesson_store, "draw-flow-home",
                                 {"AEDEMO_WORKERS": "0"})
    yield srv
    srv.stop()


# What the page shows, read without forcing a layout (textContent): the row's captions beside
# the pad as the server wrote them (null while the pen is down: the copies are then the
# browser's, said so, and not the server's row), the verdict's error where a student sees it
# (Streamlit keeps a rerun's elements that it has not redrawn yet, marked stale: the page hides
# the last drawing's numbers then, keeping their place) and whether the verdict says it is being
# computed. The row is inside the pad's component (drawing_pad.js), in its shadow
# root when it has one.
READ = """() => {
    const main = document.querySelector('[data-testid="stMain"]');
    const host = [...document.querySelectorAll('.st-key-draw-row *')].find(
        e => e.shadowRoot && e.shadowRoot.querySelector('canvas.live-recon'));
    const root = host ? host.shadowRoot : document;
    const captions = [...root.querySelectorAll('canvas.live-recon')].map(
        c => c.parentElement.querySelector('figcaption').textContent);
    const row = captions.some(t => !t.includes(' · MSE ')) ? null : captions.join(' | ');
    const metric = [...document.querySelectorAll('[data-testid="stMetricValue"]')].find(
        m => m.checkVisibility({visibilityProperty: true}));
    return {row, metric: metric ? metric.textContent : null,
            computing: main.textContent.includes('COMPUTING')};
}""".replace("COMPUTING", COMPUTING)

# Every state the page passes through, as the browser commits it: a MutationObserver reads the
# page after each batch of changes and keeps each state that differs from the last (watching
# the pad's shadow root too, whose changes the page's observer does not see).
RECORD = """(read) => {
    const seen = (window.drawStates = []);
    const look = () => {
        const now = read();
        const last = seen[seen.length - 1];
        if (!last || JSON.stringify(last) !== JSON.stringify(now)) seen.push(now);
    };
    look();
    const options = {subtree: true, childList: true, characterData: true, attributes: true};
    const watch = new MutationObserver(look);
    watch.observe(document.body, options);
    for (const e of document.querySelectorAll('.st-key-draw-row *'))
        if (e.shadowRoot) watch.observe(e.shadowRoot, options);
}"""

MESSAGE_GAP_MS = 40       # Streamlit's browser gathers the deltas of 10 ms into one redraw


def verdict(page) -> str:
    """Wait for the verdict's error and the page's run to finish; the error."""
    value = page.locator('[data-testid="stMetricValue"]')
    value.wait_for(timeout=VERDICT_MS)
    wait_idle(page)
    return value.inner_text()


def a_bar_across(page) -> None:
    """One more stroke on the pad: a bar across the middle, a 7 crossed as some write it."""
    box = page.locator(PAD).bounding_box()
    x, y, w, h = box["x"], box["y"], box["width"], box["height"]
    page.mouse.move(x + 0.3 * w, y + 0.55 * h)
    page.mouse.down()
    page.mouse.move(x + 0.7 * w, y + 0.55 * h, steps=8)
    page.mouse.up()


def ink(pad) -> np.ndarray:
    """The pad's inked pixels (280 x 280, True where the pen has been), from its canvas."""
    url = pad.evaluate("c => c.toDataURL('image/png')")
    png = base64.b64decode(url.split(",", 1)[1])
    return np.asarray(Image.open(io.BytesIO(png)).convert("L")) > 127


class Relay:
    """Stands between the browser and the server's websocket and can hold what the server
    sends, to hand it on one message at a time: every state that the page's run passes
    through is then drawn on its own, as over a slow link, instead of several merging into one
    redraw (so that no state is missed, or seen, by luck of timing)."""

    def __init__(self, page):
        self.held: list[bytes | str] = []
        self.holding = False
        self.run_finished = False          # a run of the whole page ended among the held
        self.browser = None
        page.route_web_socket("**/_stcore/stream", self._relay)

    def _relay(self, ws) -> None:
        server = ws.connect_to_server()
        ws.on_message(server.send)
        self.browser = ws
        server.on_message(self._from_server)

    def _from_server(self, message: bytes | str) -> None:
        if not self.holding:
            self.browser.send(message)
            return
        self.held.append(message)
        msg = ForwardMsg.FromString(message) if isinstance(message, bytes) else None
        if (msg is not None and msg.WhichOneof("type") == "script_finished"
                and msg.script_finished == ForwardMsg.FINISHED_SUCCESSFULLY):
            self.run_finished = True

    def hand_on_one_by_one(self, page) -> None:
        """Hand on what is held, and what comes meanwhile, in order; then stop holding."""
        while self.held:
            self.browser.send(self.held.pop(0))
            page.wait_for_timeout(MESSAGE_GAP_MS)
        self.holding = False


def test_no_old_verdict_stands_beside_a_new_drawing(page, draw_server):
    relay = Relay(page)
    open_page(page, draw_server, "draw")
    page.locator(PAD).wait_for()
    draw_seven(page)
    old = verdict(page)
    old_row = page.evaluate(READ)["row"]
    page.evaluate(f"() => ({RECORD})({READ})")
    relay.holding = True
    a_bar_across(page)
    for _ in range(600):                       # the server's whole run, held
        if relay.run_finished:
            break
        page.wait_for_timeout(50)
    assert relay.run_finished, "the page's run never finished"
    relay.hand_on_one_by_one(page)
    new = verdict(page)
    states = page.evaluate("() => window.drawStates")
    said = "\n".join(map(str, states))
    assert states[-1]["row"] not in (None, old_row) and states[-1]["metric"] == new != old, said
    # the server's new row beside the old verdict: what a student read as the new drawing's
    # verdict (while the pen is down the copies are the browser's, and say so: row None)
    assert not [s for s in states if s["row"] not in (None, old_row) and s["metric"] == old], \
        said
    # it said it was computing, beside the new row too, and the old verdict never came back
    first = next((i for i, s in enumerate(states) if s["computing"]), None)
    assert first is not None, said
    assert all(s["metric"] != old for s in states[first:]), said
    assert any(s["computing"] and s["row"] not in (None, old_row) for s in states), said
    no_exception(page)


def test_a_reload_brings_back_the_drawing_and_its_verdict(page, draw_server):
    open_page(page, draw_server, "draw")
    pad = page.locator(PAD)
    pad.wait_for()
    draw_seven(page)
    before = verdict(page)
    drawn = ink(pad)
    row = page.evaluate(READ)["row"]

    page.reload()
    page.get_by_text("Your last input; draw to replace it.").wait_for()
    assert verdict(page) == before                   # the models answer at once, the same
    assert page.evaluate(READ)["row"] == row
    # the very strokes on the pad: drawn afresh as one path rather than segment by segment,
    # only the anti-aliasing where segments join may differ (20 of 6,350 inked pixels here)
    again = ink(pad)
    assert drawn.sum() > 1000 and (again != drawn).sum() < 0.01 * drawn.sum()
    assert pad.get_attribute("aria-label").startswith("Drawing pad, 1 stroke drawn")

    a_bar_across(page)                  # the student goes on drawing: the stroke adds to it
    page.wait_for_function(f"() => (({READ})()).metric !== {before!r}", timeout=VERDICT_MS)
    verdict(page)
    assert pad.get_attribute("aria-label").startswith("Drawing pad, 2 strokes drawn")
    no_exception(page)
