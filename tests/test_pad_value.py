"""What a hostile browser may send as the drawing pad's value, checked before any of it is kept:
its shape and counts (``draw.pad_drawing``), its JSON (``widget_states``: nested too deep for
Python's parser, it failed inside Streamlit), its picture's size read from the PNG's header
before anything is decoded, and the server's limit on a message, which still fits the largest
drawing the pad can send. The same attacks against a real server: tests/e2e/test_hostile_pad.py."""

from __future__ import annotations

import base64
import io
import json
import tracemalloc

import numpy as np
import pytest
import tomllib
from PIL import Image, ImageDraw
from streamlit.proto.BackMsg_pb2 import BackMsg

from aedemo import preprocess
from aedemo.data import DataError
from aedemo.lessons import draw
from aedemo.widget_states import UNREADABLE, WidgetStateGuard, readable
from support import REPO, run_apart

SIZE, MOST = preprocess.PAD_SIZE, preprocess.PAD_MAX_POINTS


def data_url(image: Image.Image) -> str:
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return preprocess.PNG_DATA_URL + base64.b64encode(buf.getvalue()).decode()


def noise_pad() -> str:
    """The longest PNG the pad's canvas can make: RGBA noise, which nothing compresses."""
    rng = np.random.default_rng(0)
    return data_url(Image.fromarray(rng.integers(0, 256, (SIZE, SIZE, 4), dtype=np.uint8)))


def drawing(strokes, png: str | None = "data:image/png;base64,AAAA") -> dict:
    return {"png": png, "strokes": strokes}


# --- the pad's value: its shape and counts --------------------------------------------------

@pytest.mark.parametrize("value", [
    drawing([[10, 20.5, 30, 40]]),
    drawing([[0, 0], [SIZE, SIZE]]),                         # its corners, a dot each
    drawing([], png=None),                                   # cleared
    drawing([[1.5, 2.5] * (MOST // 2), [3, 4] * (MOST // 2)]),   # its most points
    drawing([[5, 5]], png=noise_pad()),
])
def test_what_the_pad_sends_is_taken(value):
    assert draw.pad_drawing(value) is value


@pytest.mark.parametrize("value", [
    None, [], "a drawing", {"strokes": []}, {"png": None},
    {"png": None, "strokes": [], "more": 1},
    drawing([[]]),                                           # a stroke with no point
    drawing([[]] * 300_000),                                 # the list of empty lists
    drawing([[10, 20, 30]]),                                 # half a point
    drawing([[1, 1]] * (MOST + 1)),                          # more strokes than points allowed
    drawing([[1, 1] * MOST, [2, 2]]),                        # more points
    drawing([[10, float("nan")]]),
    drawing([[10, None]]),
    drawing([[10, True]]),
    drawing([[10, "20"]]),
    drawing([[10, [20]]]),
    drawing([[-1, 20]]),                                     # off the pad
    drawing([[10, SIZE + 0.1]]),
    drawing([[10, 10 ** 400]]),
    drawing([[10, 20]], png=42),
    drawing([[10, 20]], png="A" * (preprocess.PAD_MAX_CHARS + 1)),
])
def test_anything_else_is_refused(value):
    assert draw.pad_drawing(value) is None


def test_empty_strokes_are_refused_by_their_count_before_their_numbers_are_read():
    # a list of 10^6 empty strokes is refused at the first, without walking them all
    looked = []

    class Counting(list):
        def __iter__(self):
            looked.append(1)
            return super().__iter__()

    assert draw.pad_drawing(drawing([Counting()] * 1_000_000)) is None
    assert not looked


# --- the pad's JSON, read before Streamlit reads it --------------------------------------------

DEEP = "[" * 200_000 + "]" * 200_000


def rerun_with(*states: tuple[str, str, str]) -> bytes:
    msg = BackMsg()
    for wid, field, text in states:
        state = msg.rerun_script.widget_states.widgets.add()
        state.id = wid
        setattr(state, field, text)
    return msg.SerializeToString()


def test_json_nested_deeper_than_python_parses_is_unreadable():
    assert not readable(DEEP)
    assert not readable('{"drawing": ')
    assert readable(json.dumps({"drawing": drawing([[1, 2]])}))


def test_reading_leaves_the_garbage_collector_as_it_found_it():
    import gc

    for text in (DEEP, "[]", "not json"):
        assert gc.isenabled()
        readable(text)
        assert gc.isenabled()
    gc.disable()
    try:
        readable("[]")
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_the_guard_replaces_only_an_unreadable_state():
    guard = WidgetStateGuard(None, back_msg=BackMsg, max_bytes=1_000_000)
    good = json.dumps({"drawing": drawing([[1, 2]])})
    sent = rerun_with(("pad", "json_value", '{"drawing": ' + DEEP + "}"),
                      ("events", "json_trigger_value", DEEP), ("other", "json_value", good))
    states = {s.id: s for s in BackMsg.FromString(guard.checked(sent))
              .rerun_script.widget_states.widgets}
    assert states["pad"].json_value == UNREADABLE
    assert states["events"].json_trigger_value == "[]"
    assert states["other"].json_value == good
    untouched = rerun_with(("other", "json_value", good))
    assert guard.checked(untouched) is untouched
    assert guard.checked(b"not a BackMsg \xff") == b"not a BackMsg \xff"


def test_the_guard_does_not_read_a_message_over_the_limit():
    # Streamlit closes the connection on such a message unread: parsing it here would cost
    # what the limit is there to prevent
    sent = rerun_with(("pad", "json_value", DEEP))
    passed = []

    async def app(scope, receive, send):
        passed.append(await receive())

    async def receive():
        return {"type": "websocket.receive", "bytes": sent}

    guard = WidgetStateGuard(app, back_msg=BackMsg, max_bytes=len(sent) - 1)
    run_apart(guard({"type": "websocket"}, receive, None))
    assert passed[0]["bytes"] is sent
    guard = WidgetStateGuard(app, back_msg=BackMsg, max_bytes=len(sent))
    run_apart(guard({"type": "websocket"}, receive, None))
    assert passed[1]["bytes"] != sent


# --- the pad's picture and an upload's, bounded before they are decoded ------------------------

def small_bomb(width: int = 4000, height: int = 3000) -> bytes:
    """A black PNG of 12 megapixels in some 16 kB."""
    buf = io.BytesIO()
    Image.new("L", (width, height), 0).save(buf, "PNG", optimize=True)
    assert len(buf.getvalue()) < 20_000
    return buf.getvalue()


def peak_mb(work) -> float:
    tracemalloc.start()
    try:
        work()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak / 1e6


def test_a_small_png_of_twelve_megapixels_is_refused_before_it_is_decoded():
    def upload():
        with pytest.raises(DataError, match="12.0 megapixels.*crop it to the digit"):
            preprocess.load_upload(small_bomb())

    assert peak_mb(upload) < 10            # decoded, it took 1.7 GB and 15 s per page run


def test_the_pads_picture_has_the_pads_size_or_is_refused_unread(monkeypatch):
    bomb = preprocess.PNG_DATA_URL + base64.b64encode(small_bomb()).decode()
    other = data_url(Image.new("RGBA", (SIZE + 1, SIZE), "black"))
    decoded = []
    monkeypatch.setattr(Image.Image, "load", lambda self: decoded.append(1))
    for url in (bomb, other):
        with pytest.raises(DataError, match="could not be read"):
            preprocess.pad_to_mnist(url)
    assert not decoded


def test_a_phone_photo_of_a_digit_is_read_at_a_fraction_of_its_size():
    # a 12-megapixel photo of a 7 on paper, as a phone's JPEG: read through libjpeg's scaling
    photo = Image.new("L", (4000, 3000), 225)
    ImageDraw.Draw(photo).line([(1500, 900), (2500, 900), (1800, 2300)], fill=40, width=120)
    buf = io.BytesIO()
    photo.save(buf, "JPEG", quality=85)
    arr = preprocess.load_upload(buf.getvalue())
    assert arr.shape[0] * arr.shape[1] <= preprocess.UPLOAD_MAX_PIXELS
    framed = preprocess.upload_to_mnist(buf.getvalue())
    assert framed is not None and float(framed.max()) > 0.9


# --- the server's limit on what a browser sends -------------------------------------------------

def test_the_largest_drawing_the_pad_sends_fits_the_servers_limit():
    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    limit = config["server"]["maxWidgetStateSize"] * 1_000_000
    assert limit < 25_000_000                                # Streamlit's own default
    largest = drawing([[SIZE - 0.1, SIZE - 0.1] * MOST], png=noise_pad())
    assert draw.pad_drawing(largest) is largest
    assert len(noise_pad()) <= preprocess.PAD_MAX_CHARS
    message = rerun_with(("$$ID-pad", "json_value", json.dumps({"drawing": largest})))
    assert len(message) < limit / 1.5                        # with room for the other widgets
