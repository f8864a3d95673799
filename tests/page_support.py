"""What the page tests share (importable as `page_support`, as `support` is): reading what an
AppTest run put on the page (its charts, pictures and captions), and a digit as a student
would upload one."""

from __future__ import annotations

import base64
import contextlib
import io
import json

import numpy as np
import torch
from PIL import Image, ImageDraw
from streamlit.testing.v1 import AppTest

from aedemo import preprocess, ui


def no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def figure(at: AppTest, i: int = 0) -> dict:
    return json.loads(at.get("plotly_chart")[i].proto.spec)


def values(v) -> list:
    """A trace's array as a list: plotly writes numpy arrays as base64 typed arrays."""
    if isinstance(v, dict) and "bdata" in v:
        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"])).tolist()
    return list(v)


def traces(fig: dict, name: str | None = None) -> list[dict]:
    return [t for t in fig["data"] if name is None or t.get("name") == name]


def model_id(variant: str, k: int) -> str:
    return next(m.id for m in ui.service().models(variant=variant) if m.spec.latent_dim == k)


def image_captions(at: AppTest) -> list[str]:
    """The captions of the page's pictures: those st.image carries, and the st.caption under
    each digit of a ui.show_images grid."""
    return ([c for img in at.get("image") for c in (i.caption for i in img.proto.imgs)]
            + [c.value for c in at.caption])


def first_row(at: AppTest, n: int = 10) -> tuple[list[str], list[str]]:
    """The first row of digits the page shows: their captions and their pictures' URLs."""
    captions = [c.value for c in at.caption]
    start = captions.index("Originals") + 1
    return captions[start:start + n], [img.proto.imgs[0].url for img in at.get("image")[:n]]


def digit_png(ink: int = 0, paper: int = 255) -> bytes:
    """A '7' on paper, as a phone photo of one would be after cropping."""
    img = Image.new("RGB", (200, 200), (paper,) * 3)
    ImageDraw.Draw(img).line([(40, 40), (160, 40), (90, 180)], fill=(ink,) * 3, width=16)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def a_drawing() -> torch.Tensor:
    return preprocess.upload_to_mnist(digit_png())


def texts(at, kind: str) -> str:
    return " ".join(e.value for e in getattr(at, kind))


# The Draw page's row of copies is in the pad's component (aedemo/assets/drawing_pad.js)
def component_data(at: AppTest) -> tuple[dict, dict | None]:
    """What the page hands the browser: the drawing pad's data (its row of copies under
    "row") and the bottleneck sweep's (None when there is no sweep)."""
    found = [json.loads(c.proto.json) for c in at.get("bidi_component")]
    pads = [d for d in found if d.get("mode") != "sweep"]
    sweeps = [d for d in found if d.get("mode") == "sweep"]
    assert len(pads) == 1 and len(sweeps) <= 1, found
    return pads[0], (sweeps[0] if sweeps else None)


def row_captions(at: AppTest) -> list[str]:
    """The server's captions of the row beside the pad ("dense k=16 · MSE 0.0123", ...), or
    beside an upload, where there is no pad."""
    if not [c for c in at.get("bidi_component") if "row" in json.loads(c.proto.json)]:
        (row,) = [b for b in at.main.children.values()
                  if getattr(b.proto, "id", "").endswith("-draw-row")]
        return [c.value for c in row.caption if " · MSE " in c.value]
    row = component_data(at)[0]["row"]
    return [m["server"]["caption"] for m in row["models"] if m["server"]]


@contextlib.contextmanager
def classroom_service(home, lesson_store, monkeypatch, passphrase: str):
    """The app's Service as a class's server starts it, for AppTests: a teacher's passphrase,
    the lesson's models copied into ``home`` (the test's AEDEMO_HOME), on the digits, the zoo
    and the workers off so nothing trains behind the test; ready inside, shut down after."""
    import shutil

    import streamlit as st

    from aedemo import roles

    shutil.copytree(lesson_store, home, dirs_exist_ok=True)
    monkeypatch.setenv(roles.PASSPHRASE_ENV, passphrase)
    monkeypatch.setenv("AEDEMO_ZOO", "0")
    monkeypatch.setenv("AEDEMO_WORKERS", "0")
    monkeypatch.setenv("AEDEMO_DATASET", "digits")
    st.cache_resource.clear()
    assert ui.service().wait_ready(60)
    yield
    ui.service().shutdown()
    st.cache_resource.clear()


def as_browser(at: AppTest, student: str, *, teacher_passphrase: str | None = None) -> None:
    """Run ``at`` as the browser whose cookie names ``student``; with the passphrase, as the
    teacher's (the sidebar's form itself is driven in a real browser: tests/e2e)."""
    at.session_state["aedemo_student"] = student
    if teacher_passphrase is not None:
        at.session_state["aedemo_teacher"] = ui.service().teachers.unlock(
            teacher_passphrase, teacher_passphrase)
