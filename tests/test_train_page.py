"""The Train page, run as the real script: what it says the loss curves mean follows the
chosen variant, the loss's floor is the one measured on the app's images, and the Seed says
what it decides."""

from __future__ import annotations

from aedemo import ui
from aedemo.metrics import bce_floor
from page_support import no_exception, texts

MEMORISE = "the model has started to memorise"


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
