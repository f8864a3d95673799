"""Made for a room: the Draw page on a projector, a laptop and a phone with a finger, its Clear
always there, and weights that download even as a training run ends. (The live loss chart's
many points are checked in test_browser's training run.)"""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

from e2e_support import PAD, Server, draw_seven, no_exception, open_page, wait_idle

ZOO_TIMEOUT_MS = 300_000
FINGER_PX = 44                     # the smallest comfortable touch target (Apple's, WCAG 2.5.5)


def test_clear_and_undo_are_always_visible_and_big_enough_for_a_finger(page, server):
    open_page(page, server, "draw")
    page.locator(PAD).wait_for()
    page.mouse.move(1, 1)                      # nowhere near the pad: no hover to reveal them
    draw_seven(page)
    page.mouse.move(1, 1)
    for name in ("Clear", "Undo"):
        button = page.get_by_role("button", name=name, exact=True)
        assert button.evaluate("b => getComputedStyle(b).opacity") == "1", name
        assert button.is_visible() and button.is_enabled(), name
        box = button.bounding_box()
        assert box["width"] >= FINGER_PX and box["height"] >= FINGER_PX, (name, box)
    no_exception(page)


def pad_and_first_reconstruction(browser, server, width: int, height: int) -> tuple[dict, dict]:
    """Draw a 7 in a fresh window of this size; the boxes of the pad and of the first
    reconstruction beside it."""
    context = browser.new_context(viewport={"width": width, "height": height})
    try:
        tab = context.new_page()
        open_page(tab, server, "draw")
        tab.locator(PAD).wait_for()
        draw_seven(tab)
        tab.get_by_text("dense k=16 · MSE").first.wait_for(timeout=ZOO_TIMEOUT_MS)
        wait_idle(tab)
        image = tab.get_by_text("dense k=16 · MSE").first.locator(
            "xpath=ancestor::*[.//canvas][1]").locator("canvas").first
        return tab.locator(PAD).bounding_box(), image.bounding_box()
    finally:
        context.close()


def test_the_pad_and_the_pictures_grow_with_the_window(browser, server):
    # a projector's 1920 x 1080 against a small laptop's 1280 x 720: the canvas and the digits
    # are readable from the back of the room, not fixed at 280 pixels
    laptop_pad, laptop_image = pad_and_first_reconstruction(browser, server, 1280, 720)
    projector_pad, projector_image = pad_and_first_reconstruction(browser, server, 1920, 1080)
    assert projector_pad["width"] > 1.3 * laptop_pad["width"], (laptop_pad, projector_pad)
    assert projector_image["width"] > 1.3 * laptop_image["width"]
    assert abs(projector_pad["width"] - projector_pad["height"]) < 2          # still square


def finger_stroke(tab, points: list[tuple[float, float]]) -> None:
    """One stroke of a finger on a touch screen, through Chromium's own touch events."""
    cdp = tab.context.new_cdp_session(tab)
    (x, y), rest = points[0], points[1:]
    cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": x, "y": y}]})
    for x, y in rest:
        cdp.send("Input.dispatchTouchEvent", {"type": "touchMove",
                                              "touchPoints": [{"x": x, "y": y}]})
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})


def test_on_a_phone_a_finger_draws_and_the_copies_sit_beside_the_drawing(browser, server):
    context = browser.new_context(viewport={"width": 390, "height": 844}, has_touch=True,
                                  is_mobile=True, device_scale_factor=2)
    try:
        tab = context.new_page()
        open_page(tab, server, "draw")
        pad = tab.locator(PAD)
        pad.scroll_into_view_if_needed()
        box = pad.bounding_box()
        x, y, w, h = box["x"], box["y"], box["width"], box["height"]
        # a 1: one stroke down the middle
        finger_stroke(tab, [(x + 0.5 * w, y + (0.15 + 0.7 * t / 20) * h) for t in range(21)])
        caption = tab.get_by_text("dense k=16 · MSE").first
        caption.wait_for(timeout=ZOO_TIMEOUT_MS)
        wait_idle(tab)
        pad_box = pad.bounding_box()
        image = caption.locator("xpath=ancestor::*[.//canvas][1]").locator("canvas").first
        image_box = image.bounding_box()
        assert image_box["x"] >= pad_box["x"] + pad_box["width"] - 1        # to its right
        assert image_box["y"] < pad_box["y"] + pad_box["height"]            # not below it
        assert image_box["x"] + image_box["width"] <= 390 + 1               # on the screen
        no_exception(tab)
    finally:
        context.close()


@pytest.fixture(scope="module")
def server_with_a_model(tmp_path_factory):
    """A server whose store holds one model already (untrained: its bytes are what matters)."""
    from aedemo.models import build
    from aedemo.spec import ModelSpec, Trained
    from aedemo.store import ModelStore

    home = tmp_path_factory.mktemp("one-model")
    spec = ModelSpec.create("dense", {"latent_dim": 4}, dataset="digits")
    ModelStore(home).save(spec, Trained(model=build("dense", {"latent_dim": 4}), history=[],
                                        metrics={}, seconds=0.0))
    srv = Server(home, extra_env={"AEDEMO_ZOO": "0"})
    yield srv
    srv.stop()


def test_weights_download_even_when_the_click_meets_a_rerun(browser, server_with_a_model):
    """The click lands while the page is rerunning (as it does when a job ends and the page
    refreshes its tables): the browser still shows the button of the run before. Holding the
    server's messages makes that moment certain. A download that Streamlit made lazily, on the
    click, had been forgotten by then ('Deferred file ... not found') and nothing came."""
    held, holding, sockets = [], {"on": False}, {}

    def relay(ws):
        server_side = ws.connect_to_server()
        ws.on_message(server_side.send)
        sockets["browser"] = ws

        def from_server(message):
            if holding["on"]:
                held.append(message)
            else:
                ws.send(message)

        server_side.on_message(from_server)

    context = browser.new_context(viewport={"width": 1400, "height": 1000},
                                  accept_downloads=True)
    try:
        tab = context.new_page()
        tab.route_web_socket("**/_stcore/stream", relay)
        server = server_with_a_model
        open_page(tab, server, "train")
        download = tab.get_by_role("button", name="Download weights")
        download.wait_for()
        wait_idle(tab)
        holding["on"] = True                       # the browser keeps the page it has
        seed = tab.get_by_label("Seed", exact=True)      # not its help button
        seed.fill("7")
        seed.press("Enter")                        # a full rerun of the page
        finished = lambda: any(ForwardMsg.FromString(m).WhichOneof("type") == "script_finished"  # noqa: E731
                               for m in held if isinstance(m, bytes))
        for _ in range(200):
            if finished():
                break
            tab.wait_for_timeout(50)
        assert finished(), "the rerun never finished"
        tab.wait_for_timeout(500)                  # Streamlit tidies its files after the run
        with tab.expect_download(timeout=30_000) as event:
            download.click()
        holding["on"] = False
        for message in held:
            sockets["browser"].send(message)
        got = event.value
        model_id = got.suggested_filename.removeprefix("aedemo-").removesuffix(".safetensors")
        weights = Path(server.home) / "models" / f"{model_id}.safetensors"
        assert Path(got.path()).read_bytes() == weights.read_bytes()
        no_exception(tab)
    finally:
        context.close()
