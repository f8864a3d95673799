"""The Train page, run as the real script: what it says the loss curves mean follows the
chosen variant, the loss's floor is the one measured on the app's images, the Seed says what it
decides, and a reload keeps the student's settings."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from aedemo import ui
from aedemo.metrics import bce_floor
from page_support import no_exception, texts
from support import REPO

MEMORISE = "the model has started to memorise"
TRAIN = "pages/train.py"


def test_the_curves_paragraph_follows_the_variant(page_app):
    at = page_app("pages/train.py")
    no_exception(at)
    said = texts(at, "markdown")
    # dense, the default: the same loss on both curves, in nats per image, above its floor
    floor = bce_floor(ui.service().data.x_train)
    assert MEMORISE in said
    assert f"on the digits training images the least any model can reach is **{floor:.0f} nats " \
           f"per image**" in said
    at.selectbox[0].set_value("denoising").run()
    no_exception(at)
    said = texts(at, "markdown")
    assert MEMORISE not in said and "different tasks" in said and "level 0.4" in said
    at.selectbox[0].set_value("sparse").run()
    assert "include its penalties" in texts(at, "markdown")
    at.selectbox[0].set_value("vae").run()
    assert "−ELBO" in texts(at, "markdown")
    at.selectbox[0].set_value("lstm").run()
    no_exception(at)
    said = texts(at, "markdown")
    assert "mean squared error per value" in said and "nats per image" not in said


def test_the_seed_says_it_sets_the_initial_weights_and_sections_are_h2(page_app):
    at = page_app("pages/train.py")
    assert "initial weights" in at.number_input(key="train-seed").help
    assert "Stored models" in [h.value for h in at.header]
    assert not at.subheader or "Stored models" not in [h.value for h in at.subheader]


def test_a_reload_keeps_the_students_settings_and_only_theirs(page_app):
    at = page_app(TRAIN)
    at.selectbox[0].set_value("vae").run()                   # the variant
    at.slider(key="train-vae-latent_dim").set_value(5).run()
    at.slider(key="train-epochs-vae").set_value(3).run()
    at.select_slider(key="train-batch-vae").set_value(128).run()
    at.number_input(key="train-seed").set_value(7).run()
    no_exception(at)

    def reload(student: str | None) -> AppTest:
        """The same page in a new session: a reload, or another browser (no student)."""
        again = AppTest.from_file(str(REPO / TRAIN), default_timeout=60)
        if student:
            again.session_state["aedemo_student"] = student
        return again.run()

    again = reload(at.session_state["aedemo_student"])
    no_exception(again)
    assert again.selectbox[0].value == "vae"
    assert again.slider(key="train-vae-latent_dim").value == 5
    assert again.slider(key="train-epochs-vae").value == 3
    assert again.select_slider(key="train-batch-vae").value == 128
    assert again.number_input(key="train-seed").value == 7
    other = reload(None)
    assert other.selectbox[0].value == "dense" and other.number_input(key="train-seed").value == 0
