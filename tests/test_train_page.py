"""The Train page, run as the real script: what it says the loss curves mean follows the
chosen variant, the loss's floor is the one measured on the app's images, the Seed says what it
decides, a reload keeps the student's settings, the class's limit on a job's training time is
said before Start and held to at Start (not for the teacher), and a number the form sends that
is not one is refused in a sentence."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from aedemo import roles, ui
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


def test_remembered_settings_the_fields_no_longer_take_give_way_to_the_defaults(page_app):
    """What a browser chose is read back through each field's own check (the form's, a
    link's): a value out of range, not a number or not finite (an older version's choice, a
    changed range) opens the field's default, and the page runs."""
    page_app(TRAIN)
    ui.session.browsers().remember("an-older-browser", "train-form", {
        "train-variant": "vae", "train-vae-latent_dim": 9999, "train-epochs-vae": "many",
        "train-lr-vae": float("nan"), "train-batch-vae": 100, "train-seed": True,
        "train-vae-beta": 4.0})
    at = AppTest.from_file(str(REPO / TRAIN), default_timeout=60)
    at.session_state["aedemo_student"] = "an-older-browser"
    at.run()
    no_exception(at)
    assert at.selectbox[0].value == "vae"
    assert at.slider(key="train-vae-beta").value == 4.0                  # still one it takes
    fresh = page_app(TRAIN)
    fresh.selectbox[0].set_value("vae").run()
    for kind, key in [("slider", "train-vae-latent_dim"), ("slider", "train-epochs-vae"),
                      ("select_slider", "train-lr-vae"), ("select_slider", "train-batch-vae"),
                      ("number_input", "train-seed")]:
        assert getattr(at, kind)(key=key).value == getattr(fresh, kind)(key=key).value, key


SECRET = "a passphrase for the class"
REFUSAL = "A student's job may train for at most 5 min; this one would take about "


def costly_lstm(at: AppTest) -> None:
    """Settings a student may pick that train for about 20 min here: an LSTM of 256 hidden
    units, 100 epochs of batch 16."""
    at.selectbox(key="train-variant").set_value("lstm").run()
    at.slider(key="train-lstm-hidden").set_value(256).run()
    at.slider(key="train-epochs-lstm").set_value(100).run()
    at.select_slider(key="train-batch-lstm").set_value(16).run()
    no_exception(at)


def test_a_students_costly_job_is_said_before_start_and_refused_at_start(page_app, monkeypatch):
    monkeypatch.setenv(roles.PASSPHRASE_ENV, SECRET)        # a class: this browser is a student
    at = page_app(TRAIN)
    no_exception(at)
    # beside Start, the chosen settings' time and the class's limit
    assert "of training. A student's job may train for at most 5 min." in texts(at, "caption")
    assert not at.warning
    costly_lstm(at)
    said = [w.value for w in at.warning]
    assert len(said) == 1 and said[0].startswith(REFUSAL), said
    assert "Fewer epochs or a larger batch" in said[0]
    at.button(key="train-start").click().run()
    no_exception(at)
    assert [e.value for e in at.error] == said
    assert ui.service().jobs.jobs(active_only=True) == []


def test_the_teacher_is_told_the_limit_and_is_not_held_to_it(page_app, monkeypatch):
    monkeypatch.setenv(roles.PASSPHRASE_ENV, SECRET)
    at = page_app(TRAIN)
    at.session_state["aedemo_teacher"] = ui.service().teachers.unlock(SECRET, SECRET)
    costly_lstm(at)
    assert not at.warning
    assert "A student's job may train for at most 5 min; yours may train longer." in texts(
        at, "caption")
    at.button(key="train-start").click().run()
    no_exception(at)
    assert not at.error
    assert [(j.spec.variant, j.spec.train.epochs)
            for j in ui.service().jobs.jobs(active_only=True)] == [("lstm", 100)]


def test_a_seed_that_is_no_number_is_refused_in_a_sentence(page_app):
    """Sent by hand through Streamlit's protocol (no browser sends one): a NaN seed raised in
    every run of the page, which showed the sender an exception. Now it and every other value
    outside the seed's range get one plain sentence, and Start waits for a seed."""
    at = page_app(TRAIN)
    wanted = "Seed must be a whole number between 0 and 2147483647"
    for value, said in [(float("nan"), f"{wanted}."), (float("inf"), f"{wanted}."),
                        (-1, f"{wanted}."), (2.0**40, f"{wanted}."),
                        (7.5, f"{wanted}, not 7.5.")]:
        at.number_input(key="train-seed").set_value(value).run()
        no_exception(at)
        assert [e.value for e in at.error] == [said]
        assert at.button(key="train-start").disabled
    at.number_input(key="train-seed").set_value(7).run()
    no_exception(at)
    assert not at.error and not at.button(key="train-start").disabled
    at.button(key="train-start").click().run()
    assert [j.spec.train.seed for j in ui.service().jobs.jobs(active_only=True)] == [7]
