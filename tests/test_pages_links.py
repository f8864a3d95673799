"""Every page's settings in its address, through the real page scripts (AppTest keeps the query
string as a browser's address bar does: what the page writes there is sent with the next run):
a link with settings opens the page with them; a hostile link opens the defaults with one plain
note; the address follows a changed widget; and every linked page's address, opened again,
gives the same settings."""

from __future__ import annotations

import shutil

import pytest
from streamlit.testing.v1 import AppTest

from aedemo import ui
from aedemo.ui import DRAWING
from page_support import a_drawing, model_id, no_exception
from support import REPO

LINKED_PAGES = ["pages/home.py", "pages/train.py", "pages/generate.py", "pages/latent_space.py",
                "pages/reconstructions.py", "pages/denoising.py", "pages/anomaly.py",
                "pages/sequences.py", "pages/insights.py", "pages/draw.py",
                "pages/class_view.py"]


@pytest.fixture
def opened(quiet_env, lesson_store, isolated_home):
    """``opened(page, query)``: the page run as a browser that opened a link with ``query``
    (app.py's navigation, as a server runs it), on a copy of the lesson's models, with a
    drawing made."""
    shutil.copytree(lesson_store, isolated_home, dirs_exist_ok=True)

    def open_link(page: str, query: dict[str, str] | None = None) -> AppTest:
        assert ui.service().wait_ready(60)
        at = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
        at.run()
        at.switch_page(page)
        at.session_state[DRAWING] = a_drawing()     # the Draw page's picker is under a drawing
        at.query_params = dict(query or {})
        at.run()
        no_exception(at)
        return at

    yield open_link
    ui.service().shutdown()


def notes(at: AppTest) -> list[str]:
    return [i.value.replace("\\", "") for i in at.info if "This link's" in i.value]


def test_a_link_opens_generate_with_its_settings(opened):
    vae = model_id("vae", 4)
    at = opened("pages/generate.py", {"model": vae, "seed": "7", "temperature": "0.5"})
    assert at.selectbox(key="gen-vae").value.id == vae
    assert at.number_input(key="gen-seed").value == 7
    assert at.slider(key="gen-temp").value == 0.5
    assert notes(at) == []
    assert at.query_params == {"model": vae, "seed": "7", "temperature": "0.5"}


def test_a_hostile_link_opens_the_defaults_with_one_note(opened):
    plain = opened("pages/generate.py")
    at = opened("pages/generate.py", {"model": "../../etc/passwd", "seed": "-1",
                                      "temperature": "nan", "utm_source": "x" * 5000})
    assert at.selectbox(key="gen-vae").value.id == plain.selectbox(key="gen-vae").value.id
    assert at.number_input(key="gen-seed").value == 0
    assert at.slider(key="gen-temp").value == 1.0
    said = notes(at)
    assert len(at.info) >= 1 and len(said) == 1
    for words in ("model = “../../etc/passwd” is not used", "seed = “-1” is not used: seed "
                  "takes a whole number from 0 to 1000000", "temperature = “nan”"):
        assert words in said[0]
    # the address now holds what the page shows, and the unknown name is gone from it
    assert at.query_params == plain.query_params


def test_the_address_follows_the_train_form(opened):
    at = opened("pages/train.py", {"variant": "vae", "latent": "8", "beta": "4", "epochs": "3",
                                   "lr": "2e-3", "batch-size": "128", "seed": "5"})
    assert at.selectbox(key="train-variant").value == "vae"
    assert at.slider(key="train-vae-latent_dim").value == 8
    assert at.slider(key="train-vae-beta").value == 4.0
    assert at.slider(key="train-epochs-vae").value == 3
    assert at.select_slider(key="train-lr-vae").value == 0.002
    assert at.select_slider(key="train-batch-vae").value == 128
    assert at.number_input(key="train-seed").value == 5
    assert at.query_params == {"variant": "vae", "dataset": "digits", "latent": "8", "beta": "4",
                               "epochs": "3", "lr": "0.002", "batch-size": "128", "seed": "5"}
    at.slider(key="train-vae-latent_dim").set_value(12).run()
    assert at.query_params["latent"] == "12"
    assert at.slider(key="train-vae-beta").value == 4.0        # the rest stays as the link said
    at.selectbox(key="train-variant").set_value("dense").run()
    no_exception(at)
    assert at.query_params["variant"] == "dense"
    assert "beta" not in at.query_params                     # a VAE's setting leaves the address


def test_a_link_to_anomaly_names_the_normal_digits_as_the_cli_does(opened):
    detector = next(m.id for m in ui.service().models(one_class=True))   # the lesson's only
    at = opened("pages/anomaly.py", {"normal": "3,5", "variant": "conv", "latent": "8"})
    assert at.multiselect(key="anomaly-digits").value == [3, 5]
    assert at.selectbox(key="anomaly-variant").value == "conv"
    assert at.slider(key="anomaly-k").value == 8
    assert at.query_params["normal"] == "3,5"
    assert at.query_params["model"] == detector
    bad = opened("pages/anomaly.py", {"normal": "3,3", "latent": "1e9"})
    assert bad.multiselect(key="anomaly-digits").value == [0]
    assert len(notes(bad)) == 1 and "normal = “3,3”" in notes(bad)[0]


@pytest.mark.parametrize("page", LINKED_PAGES)
def test_every_page_writes_its_settings_and_opens_them_again(opened, page):
    first = opened(page)
    query = dict(first.query_params)
    assert query, f"{page} put none of its settings in the address"
    again = opened(page, query)
    assert notes(again) == []
    assert dict(again.query_params) == query


def test_a_page_waiting_for_its_models_still_follows_and_notes(quiet_env):
    """The Anomaly page on a fresh server (no detector yet, the page waits below its form):
    the form's settings reach the address, and a refused value is said."""
    assert ui.service().wait_ready(60)
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
    at.run()
    at.switch_page("pages/anomaly.py")
    at.query_params = {"normal": "3", "latent": "9999"}
    at.run()
    no_exception(at)
    assert at.multiselect(key="anomaly-digits").value == [3]
    assert len(notes(at)) == 1 and "latent = “9999” is not used" in notes(at)[0]
    assert at.query_params["normal"] == "3" and at.query_params["latent"] == "16"
    at.multiselect(key="anomaly-digits").set_value([3, 8]).run()
    assert at.query_params["normal"] == "3,8"
    ui.service().shutdown()
