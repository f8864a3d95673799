"""The Latent space page, run as the real script by AppTest on the explore store of tiny models: its
map, t-SNE in the background, the decoded plane and selections."""

from __future__ import annotations

import json
import time

from aedemo import ui
from page_support import (
    figure,
    image_captions,
    no_exception,
    traces,
    values,
)


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

