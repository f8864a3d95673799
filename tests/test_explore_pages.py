"""The exploration pages (Reconstructions, Latent space, Generate, Denoising, Sparse and conv),
run as the real scripts by AppTest on a store of tiny models trained here, asserting on what
their charts and tables hold."""

from __future__ import annotations

import base64
import json
import logging
import math
import shutil
import time

import numpy as np
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest
from test_pages import no_exception
from test_showcase import stored

from aedemo import ui
from aedemo.service import Service
from aedemo.spec import ModelSpec, train_spec
from aedemo.store import ModelStore
from aedemo.train import TrainConfig
from support import REPO

# Three dense ks make a rate-distortion curve; every other variant once, at the zoo's k where
# it is cheap. Two epochs on the digits: seconds in all, and the images are already digit-like.
EXPLORE_ZOO = [("dense", {"latent_dim": 2}), ("dense", {"latent_dim": 4}),
               ("dense", {"latent_dim": 16}), ("vae", {"latent_dim": 2}),
               ("vae", {"latent_dim": 4}), ("denoising", {"latent_dim": 16}),
               ("sparse", {"latent_dim": 16}), ("conv", {"latent_dim": 16})]
DENSE_KS = [2, 4, 16]
MY_PAGES = ["pages/reconstructions.py", "pages/latent_space.py", "pages/generate.py",
            "pages/denoising.py", "pages/insights.py"]


@pytest.fixture(scope="session")
def explore_store(tmp_path_factory):
    home = tmp_path_factory.mktemp("explore-store")
    store = ModelStore(home)
    for variant, hparams in EXPLORE_ZOO:
        spec = ModelSpec.create(variant, hparams, dataset="digits", train=TrainConfig(epochs=2))
        store.save(spec, train_spec(spec))
    return home


@pytest.fixture
def page_app(quiet_env):
    """As test_pages' ``app``, but running the page script itself rather than app.py's
    navigation, so these tests do not depend on every other page in the menu existing."""
    st.cache_resource.clear()
    st.cache_data.clear()

    def make(page: str) -> AppTest:
        assert ui.service().wait_ready(60)
        at = AppTest.from_file(str(REPO / page), default_timeout=60)
        at.run()
        return at

    yield make
    ui.service().shutdown()
    st.cache_resource.clear()


@pytest.fixture
def explore(page_app, explore_store, isolated_home):
    shutil.copytree(explore_store, isolated_home, dirs_exist_ok=True)

    def make(page: str) -> AppTest:
        at = page_app(page)
        no_exception(at)
        return at
    return make


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


@pytest.mark.parametrize("page", MY_PAGES)
def test_pages_say_what_they_wait_for_when_the_store_is_empty(page_app, page):
    at = page_app(page)
    no_exception(at)
    assert any("is ready yet" in i.value for i in at.info)


@pytest.mark.parametrize("page", MY_PAGES)
def test_pages_say_the_dataset_is_loading(page_app, page, monkeypatch):
    monkeypatch.setattr(Service, "data", property(lambda self: None))
    at = page_app(page)
    no_exception(at)
    assert [i.value for i in at.info] == ["Loading the dataset…"]


def test_rate_distortion_has_a_point_per_stored_k_and_a_pca_curve(explore):
    at = explore("pages/reconstructions.py")
    fig = figure(at)
    dense, = traces(fig, "dense")
    assert values(dense["x"]) == DENSE_KS and all(y > 0 for y in values(dense["y"]))
    stored = {m.spec.latent_dim: m.metrics["mse"] for m in ui.service().models(variant="dense")}
    assert values(dense["y"]) == pytest.approx([stored[k] for k in DENSE_KS])
    pca, = traces(fig, "PCA (linear)")
    assert set(DENSE_KS) <= set(values(pca["x"]))
    # more components never cost more error
    pca_mse = values(pca["y"])
    assert all(a >= b - 1e-9 for a, b in zip(pca_mse, pca_mse[1:]))
    assert {t["name"] for t in fig["data"]} >= {"vae", "denoising", "sparse", "conv"}
    assert fig["layout"]["xaxis"]["type"] == "log"


def test_bottleneck_slider_updates_the_images(explore):
    # how fast it answers is bench/classroom.py's to measure: timings are no test's business
    at = explore("pages/reconstructions.py")
    at.select_slider(key="rec-k").set_value(4).run()
    no_exception(at)
    captions = [c.value for c in at.caption]
    assert any(c.startswith("Dense autoencoder, k = 4") for c in captions)
    assert any(c.startswith("PCA, k = 4") for c in captions)
    assert figure(at)["layout"]["shapes"][0]["x0"] == 4          # the marker follows


def test_picking_digits_and_reshuffling(explore):
    at = explore("pages/reconstructions.py")
    at.multiselect(key="rec-classes").set_value([3]).run()
    no_exception(at)
    labels, before = first_row(at)
    assert labels == ["3"] * 10
    at.button(key="rec-shuffle").click().run()
    assert at.number_input(key="rec-seed").value == 1
    labels, after = first_row(at)
    assert labels == ["3"] * 10 and after != before


def test_reshuffling_sets_the_seed_without_a_warning_in_the_log(explore, monkeypatch):
    """Streamlit warns (once per process, with a stack) when a widget has a default value and
    session state sets it too: it filled the server's log at every Reshuffle."""
    from streamlit.elements.lib import policies

    monkeypatch.setattr(policies, "_shown_default_value_warning", False)
    warned = []
    handler = logging.Handler()
    handler.emit = lambda record: warned.append(record.getMessage())
    policies._LOGGER.addHandler(handler)
    try:
        at = explore("pages/reconstructions.py")
        at.button(key="rec-shuffle").click().run()
        at.button(key="rec-shuffle").click().run()
    finally:
        policies._LOGGER.removeHandler(handler)
    no_exception(at)
    assert at.number_input(key="rec-seed").value == 2
    assert not [m for m in warned if "default value" in m], warned


def test_latent_map_has_one_point_per_test_image(explore):
    at = explore("pages/latent_space.py")
    at.selectbox(key="latent-model").set_value(
        next(m for m in ui.service().models(variant="dense") if m.spec.latent_dim == 16)).run()
    no_exception(at)
    n_test = len(ui.service().data.x_test)
    fig = figure(at)
    points = traces(fig)
    assert sum(len(values(t["x"])) for t in points) == min(n_test, 1000)
    indices = sorted(i for t in points for i in values(t["customdata"]))
    assert indices == list(range(min(n_test, 1000)))
    assert "PCA view" in fig["layout"]["title"]["text"]


def test_tsne_is_computed_in_the_background(explore):
    at = explore("pages/latent_space.py")
    at.selectbox(key="latent-model").set_value(
        next(m for m in ui.service().models(variant="dense") if m.spec.latent_dim == 16)).run()
    at.radio(key="latent-method").set_value("tsne").run()
    no_exception(at)
    assert any("background" in i.value for i in at.info)      # PCA meanwhile, not a wait
    assert "PCA view" in figure(at)["layout"]["title"]["text"]
    deadline = time.time() + 60
    while "t-SNE" not in figure(at)["layout"]["title"]["text"] and time.time() < deadline:
        time.sleep(0.5)
        at.run()
    assert "t-SNE view" in figure(at)["layout"]["title"]["text"]
    assert not at.info


def test_k2_map_shows_the_decoded_plane(explore):
    at = explore("pages/latent_space.py")
    at.selectbox(key="latent-model").set_value(
        next(m for m in ui.service().models(variant="vae") if m.spec.latent_dim == 2)).run()
    no_exception(at)
    assert "z1" in json.dumps(figure(at)["layout"]["xaxis"])
    assert any("learned manifold" in c for c in image_captions(at))


def test_a_selection_shows_digits_and_decodes_the_box_centre(explore):
    at = explore("pages/latent_space.py")
    entry = next(m for m in ui.service().models(variant="vae") if m.spec.latent_dim == 2)
    at.selectbox(key="latent-model").set_value(entry).run()
    # what the browser sends back for a box around two points (the chart is the boundary)
    at.session_state["latent-scatter"] = {"selection": {
        "points": [{"x": 0.1, "y": 0.2, "customdata": 12}, {"x": 0.3, "y": 0.1,
                                                            "customdata": [5]}],
        "point_indices": [0, 1], "lasso": [],
        "box": [{"xref": "x", "yref": "y", "x": [-1.0, 0.5], "y": [0.0, 2.0]}]}}
    at.run()
    no_exception(at)
    assert [h.value for h in at.subheader] == ["2 selected digits"]
    data = ui.service().data
    assert [c for c in image_captions(at) if c.startswith("#")] == [
        f"#5: {data.classes[int(data.y_test[5])]}", f"#12: {data.classes[int(data.y_test[12])]}"]
    assert any("z = (-0.25, 1.00)" in m.value for m in at.markdown)


def test_generate_page_samples_interpolates_and_breaks_down_the_loss(explore):
    at = explore("pages/generate.py")
    at.selectbox(key="gen-vae").set_value(
        next(m for m in ui.service().models(variant="vae") if m.spec.latent_dim == 4)).run()
    no_exception(at)
    captions = image_captions(at)
    assert any(c.startswith("VAE (k = 4") for c in captions)
    assert any("the very same codes" in c for c in captions)   # a dense k = 4 is stored
    loss = figure(at, 0)
    assert {t["name"] for t in loss["data"]} >= {"train reconstruction", "train KL"}
    kl = figure(at, 1)
    assert len(values(kl["data"][0]["y"])) == 4
    assert at.metric[0].value.endswith("of 4")
    assert len(at.dataframe[0].value) == 2                   # both stored VAEs


def test_generate_page_opens_on_a_vae_whose_samples_make_the_lesson(explore, isolated_home):
    """Not the k = 2 VAE, though it is the newest: at k = 2 a plain autoencoder's decodes of
    N(0, I) draws look as digit-like as the VAE's, and the page's point is lost."""
    spec = ModelSpec.create("vae", {"latent_dim": 2}, dataset="digits",
                            train=TrainConfig(epochs=1))
    stored(ModelStore(isolated_home), spec, owner=None)      # a second after the others
    newest = ui.service().models(variant="vae")
    assert newest[0].spec == spec and {m.spec.latent_dim for m in newest} == {2, 4}
    at = explore("pages/generate.py")
    assert at.selectbox(key="gen-vae").value.spec.latent_dim == 4
    assert any(c.startswith("VAE (k = 4") for c in image_captions(at))


def test_denoising_table_ranks_the_methods(explore):
    at = explore("pages/denoising.py")
    at.select_slider(key="den-level-gaussian").set_value(0.5).run()
    no_exception(at)
    table = at.dataframe[0].value.set_index("method")
    assert list(table.index) == ["noisy input", "denoising AE", "plain AE", "median filter"]
    assert all(math.isfinite(v) for v in table["PSNR (dB)"])
    noisy = table.loc["noisy input", "PSNR (dB)"]
    # at sigma 0.5 the noisy input is far from clean: both denoisers do better
    assert table.loc["denoising AE", "PSNR (dB)"] > noisy + 2
    assert table.loc["median filter", "PSNR (dB)"] > noisy + 2
    chart = figure(at)
    assert {t["name"] for t in chart["data"]} == set(table.index)
    assert all(len(values(t["y"])) == 6 for t in chart["data"])


def test_insights_page_compares_codes_and_shows_conv_filters(explore):
    at = explore("pages/insights.py")
    hist = figure(at, 0)
    assert [t["type"] for t in hist["data"]] == ["histogram", "histogram"]
    assert hist["data"][0]["name"].startswith("dense")
    assert hist["data"][1]["name"].startswith("sparse")      # on top
    filters = figure(at, 1)
    assert filters["data"][0]["type"] == "heatmap"
    at.number_input(key="ins-digit").set_value(5).run()
    no_exception(at)
    assert any(c.startswith("#5:") for c in image_captions(at))
